#pragma once
// Optimizers, gradient clipping and learning-rate schedules.
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/sgd.hpp>
#include <tapegrad/optim/adam.hpp>
#include <tapegrad/optim/adagrad.hpp>
#include <tapegrad/optim/rmsprop.hpp>
#include <tapegrad/optim/clip.hpp>
#include <tapegrad/optim/data_parallel.hpp>
#include <tapegrad/optim/schedule.hpp>
