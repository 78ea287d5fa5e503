#pragma once
// Modules and recurrent layers.
#include <tapegrad/layers/module.hpp>
