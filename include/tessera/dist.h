#pragma once
/// Umbrella header of the distributed runtime (ts::dist): init/finalize and failure handling,
/// Communicator collectives, process-group grids, DistributedDataParallel and
/// DistributedSampler. Programs run under `mpirun -np N`, or alone as a world of one.
#include "tessera/dist/communicator.h"
#include "tessera/dist/ddp.h"
#include "tessera/dist/parallel_gpt.h"
#include "tessera/dist/pipeline.h"
#include "tessera/dist/process_groups.h"
#include "tessera/dist/runtime.h"
#include "tessera/dist/sampler.h"
#include "tessera/dist/tensor_parallel.h"
#include "tessera/dist/zero.h"
