#pragma once
// Checkpoints in the safetensors format.
