#pragma once
// d/dw sum(tanh(x w^T)) for a fixed x, computed by the installed tapegrad.
double consumer_gradient_sum();
