#pragma once
// Modules and recurrent layers.
#include <tapegrad/layers/module.hpp>
#include <tapegrad/layers/linear.hpp>
#include <tapegrad/layers/embedding.hpp>
#include <tapegrad/layers/dropout.hpp>
#include <tapegrad/layers/cell.hpp>
#include <tapegrad/layers/affine_cell.hpp>
#include <tapegrad/layers/rnn_cell.hpp>
#include <tapegrad/layers/lstm_cell.hpp>
#include <tapegrad/layers/gru_cell.hpp>
#include <tapegrad/layers/layernorm_lstm_cell.hpp>
#include <tapegrad/layers/sequence.hpp>
#include <tapegrad/layers/recurrent.hpp>
#include <tapegrad/layers/tbptt.hpp>
#include <tapegrad/layers/checkpointed_sequence.hpp>
#include <tapegrad/layers/attention.hpp>
#include <tapegrad/layers/multihead_attention.hpp>
