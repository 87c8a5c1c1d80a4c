#pragma once
/// ts::optim: optimizers (SGD, Adam, AdamW), learning-rate schedulers and gradient clipping.
#include "tessera/optim/adam.h"
#include "tessera/optim/clip_grad.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/optimizer.h"
#include "tessera/optim/sgd.h"
