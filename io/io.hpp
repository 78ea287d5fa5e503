#pragma once
// Checkpoints in the safetensors format.
#include <tapegrad/io/safetensors.hpp>
#include <tapegrad/io/checkpoint.hpp>
