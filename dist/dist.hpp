#pragma once
// tg::dist: data-parallel training on MPI (OpenMPI), the optional tapegrad::dist component.
//
//   tg::dist::Session mpi(argc, argv);                 // MPI_Init ... MPI_Finalize
//   tg::dist::broadcast_parameters(params);            // every rank starts from rank 0's weights
//   tg::dist::GradientAllreduce grads(params);
//   for (...) {
//     loss_on_my_share_of_the_batch.backward();        // mean over this rank's tokens
//     grads.average();                                 // one fused MPI_Allreduce
//     tg::clip_grad_norm(params, 5.0); opt.step(); opt.zero_grad();
//   }
#include <tapegrad/dist/collectives.hpp>
#include <tapegrad/dist/environment.hpp>
#include <tapegrad/dist/gradient_allreduce.hpp>
