// A bound on how deeply JSON text nests, checked before it is parsed. The
// Keras readers walk, copy and print parsed JSON with recursive code (ours
// and nlohmann's dump/copy), so a file of many nested brackets would
// overflow the stack; real Keras configs nest about 11 levels. Pure
// functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace shardtrain::storage::keras {

// The deepest array/object nesting a Keras JSON document may have.
inline constexpr int kMaxKerasJsonDepth = 64;

// OK when no array or object in `text` lies deeper than `max_depth` levels;
// InvalidArgument naming `source`, the limit and the byte offset otherwise.
// Scans the text iteratively (skipping string contents and escapes) and
// does not otherwise validate it: the parser still does that.
Status CheckJsonNesting(std::string_view text, int max_depth, const std::string& source);

}  // namespace shardtrain::storage::keras
