#pragma once
// Backward of a chain of pointwise ops as one pass over chunks of their elements (issue 20,
// step 4). Internal to tapegrad.
//
// Note [pointwise runs]: a pointwise op (unary math, same-shape binary ops, a slice) records a
// PointwiseBackward: its gradients over any range [begin, end) of its output's elements. When
// the sweep reaches such a node, the engine gathers it and the pointwise nodes below it on the
// tape with as many elements, up to the first other node a gradient reaches (a GEMM, a
// broadcasting add): in a cell, the gate math of one time step and the chunk of the gate
// matrix it starts from. Then:
// - it resolves each node in sweep order, as the sweep would: checks it (stale, versions),
//   allocates the gradients it writes, deciding which are first writes (Note [first write
//   assigns]; for slices, Note [windows tile] in pointwise_run.cpp), and settles how each
//   input whose gradient is dy itself gets it (takes dy's buffer, copies it or adds it, Note
//   [op contract]);
// - it runs them all as one job on the pool: each chunk of elements goes through every node
//   in sweep order. A node's dy over a chunk is complete once the nodes above it have run that
//   chunk, since they only write their inputs' gradients at the same elements (a slice
//   writes elsewhere, into a larger input, which has another size and so is not in the run;
//   slices whose windows of one input overlap make the run serial, Note [windows tile]);
// - it releases the spent gradients of the run's outputs.
// So the chain's work is one unit the pool can split, where each op alone is often too small to
// (a [32, 128] gate), and its arrays are read chunk by chunk while they are in cache.
// The run is fused regardless of which ops a cell is made of: no pattern is matched.
// A node whose gradient is retained (retain_grad) starts a run, never joins one: its dy must be
// complete when it is copied. Anomaly mode runs every node alone, so it names the op.
#include <cstddef>
#include <vector>

#include <tapegrad/autograd/detail/node.hpp>

namespace tg::detail {

// Runs the backward of nodes[i] (pointwise, its output's gradient reached) and of the run
// below it (Note [pointwise runs]); returns the index of the lowest node it handled.
std::size_t run_pointwise(std::vector<Node>& nodes, std::size_t i);

// Whether runs may hold more than one node (on by default; off, every pointwise node runs
// alone, as before fusion). For tests and benchmarks that compare the two.
bool is_pointwise_fusion_enabled();
void set_pointwise_fusion_enabled(bool on);

// Counted on the calling thread since the last reset.
struct PointwiseRunStats {
  std::size_t runs = 0;         // runs of two or more nodes
  std::size_t fused_nodes = 0;  // the nodes in them
  std::size_t serial_runs = 0;  // runs made serial by overlapping windows (Note [windows tile])
};
PointwiseRunStats pointwise_run_stats();
void reset_pointwise_run_stats();

}  // namespace tg::detail
