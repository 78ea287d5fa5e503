#include "test_helpers.hpp"
