#pragma once
/// Umbrella header: everything a Tessera user needs.
#include "tessera/autograd.h"
#include "tessera/backend.h"
#include "tessera/creation.h"
#include "tessera/device.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/nn_functional.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "tessera/scalar.h"
#include "tessera/shape.h"
#include "tessera/tensor.h"
