# node-gyp project of the qrecipe addon; driven by native/build.mjs, which passes
# -Dcuda_lib=<static library of the nvcc-compiled kernels> when CUDA is built, and with --bench
# -Dwith_bench=yes -Dbench_cuda_lib=<the benchmark's kernels> for the benchmark addon
# (qrecipe_bench.node: the product's code plus native/bench/; the product addon holds no benchmark).
{
  'variables': {
    'cuda_lib%': '',
    'cuda_home%': '/usr/local/cuda',
    'qr_version%': '0.0.0',
    'with_bench%': 'no',
    'bench_cuda_lib%': '',
    # the product's algorithms and their plumbing, without the addon's entry and calls
    'algorithm_sources': [
      'src/job.cc', 'src/cuda_stub.cc', 'src/gemm.cc', 'src/linalg.cc', 'src/quant_grid.cc', 'src/hessian.cc',
      'src/gptq.cc', 'src/sparsegpt.cc', 'src/prune_mask.cc', 'src/wanda.cc', 'src/magnitude.cc',
      'src/outliers.cc', 'src/quant_error.cc', 'src/pack.cc', 'src/memory.cc', 'src/vq.cc',
      'src/graph/host_kernels.cc', 'src/graph/ops.cc', 'src/graph/ops_elementwise.cc', 'src/graph/ops_shape.cc',
      'src/graph/ops_nn.cc', 'src/graph/executor.cc',
    ],
  },
  'target_defaults': {
    'cflags!': ['-fno-exceptions', '-O2', '-O0'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++20', '-O2', '-O0'],
    'cflags': ['-fPIC', '-O3', '-fopenmp', '-Wall', '-Wno-unknown-pragmas'],
    'cflags_cc': ['-std=c++17', '-fexceptions'],
  },
  'targets': [
    {
      'target_name': 'qrecipe_gemm_v2',
      'type': 'static_library',
      'sources': ['src/gemm_kernel.cc'],
      'defines': ['QR_ISA=v2'],
      'cflags': ['-march=x86-64-v2'],
    },
    {
      'target_name': 'qrecipe_gemm_v3',
      'type': 'static_library',
      'sources': ['src/gemm_kernel.cc'],
      'defines': ['QR_ISA=v3'],
      'cflags': ['-march=x86-64-v3'],
    },
    {
      'target_name': 'qrecipe_gemm_v4',
      'type': 'static_library',
      'sources': ['src/gemm_kernel.cc'],
      'defines': ['QR_ISA=v4'],
      'cflags': ['-march=x86-64-v4', '-mprefer-vector-width=512'],
    },
    {
      'target_name': 'qrecipe',
      'dependencies': ['qrecipe_gemm_v2', 'qrecipe_gemm_v3', 'qrecipe_gemm_v4'],
      'sources': ['src/addon.cc', 'src/bindings.cc', 'src/vq_bindings.cc', 'src/graph/binding.cc', '<@(algorithm_sources)'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'QRECIPE_VERSION="<(qr_version)"'],
      'cflags': ['-march=x86-64-v2'],
      # libgomp is copied next to the addon so machines without a compiler runtime still load it
      'ldflags': ['-fopenmp', "-Wl,-rpath,'$$ORIGIN'"],
      'conditions': [
        ['cuda_lib!=""', {
          'defines': ['QRECIPE_CUDA'],
          'libraries': ['<(cuda_lib)', '<(cuda_home)/lib64/libcudart_static.a', '-ldl', '-lrt', '-lpthread'],
        }],
      ],
    },
  ],
  'conditions': [
    ['with_bench=="yes"', {
      'targets': [
        {
          'target_name': 'qrecipe_bench',
          'dependencies': ['qrecipe_gemm_v2', 'qrecipe_gemm_v3', 'qrecipe_gemm_v4'],
          'sources': ['bench/addon.cc', 'bench/jobs.cc', 'bench/stub.cc', '<@(algorithm_sources)'],
          'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")", 'src'],
          'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'QRECIPE_VERSION="<(qr_version)"'],
          'cflags': ['-march=x86-64-v2'],
          'ldflags': ['-fopenmp', "-Wl,-rpath,'$$ORIGIN'"],
          'conditions': [
            ['cuda_lib!=""', {
              'defines': ['QRECIPE_CUDA'],
              'libraries': ['<(bench_cuda_lib)', '<(cuda_lib)', '<(cuda_home)/lib64/libcudart_static.a', '-ldl', '-lrt',
                            '-lpthread'],
            }],
          ],
        },
      ],
    }],
  ],
}
