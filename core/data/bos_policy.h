// Where BOS goes in a token stream: tokenize.bos of a project and `bos` of a token manifest
// (token_shards.h describes the layouts). Spelled none | document | window in both.
#pragma once
#include "core/util/enum_table.h"

namespace qatwb::data {

enum class BosPolicy { None, Document, Window };
EnumRows<BosPolicy> enum_rows(BosPolicy);  // rows in token_shards.cpp

}  // namespace qatwb::data
