// SHARDTRAIN_VECTOR_CLONES: compiles a hot elementwise loop for AVX-512, AVX2
// and baseline x86-64, and picks the best one for the CPU at load time (GCC
// function multiversioning). We build for baseline x86-64, so without this the
// loops use 4-wide SSE; the AVX2 clone of Adam runs ~1.8x faster.
//
// Results are bit-identical across clones: kernels/ is compiled with
// -ffp-contract=off (GCC would otherwise fuse a*b+c into FMA in the AVX2 and
// AVX-512 clones only), and sqrt/div are correctly rounded at any width. Use only on functions whose pointer arguments are
// __restrict (so the loops vectorize without alias checks).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SHARDTRAIN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SHARDTRAIN_VECTOR_CLONES
#endif
