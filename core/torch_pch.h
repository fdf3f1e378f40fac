// Precompiled header for every translation unit that uses LibTorch (qatwb_engine, its tests,
// the engine commands of the CLI). Only stable, heavy third-party headers belong here.
#pragma once
#include <torch/torch.h>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
