// WriteErrorLine: one line on stderr in a single write, after flushing stdout.
// mpirun merges the ranks' stderr; a line written piece by piece (as chained
// `std::cerr <<` does, stderr being unbuffered) can interleave with another
// rank's mid-line, so every rank's error line goes out whole.
#pragma once

#include <cstdio>
#include <iostream>
#include <string>

namespace shardtrain::cli {

inline void WriteErrorLine(std::string line) {
  std::cout.flush();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace shardtrain::cli
