# node-gyp build of the same sources as CMakeLists.txt (npm run build:gyp).
# The source list is read from native/sources.json (core + addon), so there is
# one list; test/js/01-load.test.ts checks that the expansion below matches it.
#
# `brake_root` is the package root relative to the directory node-gyp runs
# in: "." when run at the root, ".." for the out-of-tree build that
# `npm run build:gyp` does in build-gyp/ (so it never clobbers cmake-js's
# build/). Strings starting with "<" are not rebased by gyp's includes.
{
  'variables': {
    'brake_root%': '.',
    # The native HTTP transport when libcurl's development files are found
    # (as CMakeLists.txt does with find_package(CURL)).
    'brake_curl%': '<!(pkg-config --exists libcurl 2>/dev/null && echo 1 || echo 0)',
  },
  'targets': [
    {
      'target_name': 'brake',
      'sources': [
        '<!@(node -p "const s=require(\'./<(brake_root)/native/sources.json\');s.core.concat(s.addon).map(f=>\'<(brake_root)/\'+f).join(\' \')")',
        # simdjson (the npm package @nozbe/simdjson), wherever npm put it.
        # (relative to where gyp runs: node-gyp makes no rule for an absolute source)
        '<!(node -p "const p=require(\'path\');p.relative(process.cwd(),p.join(p.dirname(require.resolve(\'@nozbe/simdjson/package.json\')),\'src\',\'simdjson.cpp\'))")',
      ],
      'include_dirs': [
        '<(brake_root)/native/include',
        '<(brake_root)/native/src',
        '<!(node -p "require(\'node-addon-api\').include_dir")',
        '<!(node -p "require(\'path\').join(require(\'path\').dirname(require.resolve(\'@nozbe/simdjson/package.json\')),\'src\')")',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_DISABLE_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
      ],
      'cflags': ['-fvisibility=hidden', '-Wall', '-Wextra', '-Wno-unused-parameter'],
      'cflags_cc': ['-std=c++17', '-fexceptions', '-frtti'],
      'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17'],
      'ldflags': ['-pthread'],
      'conditions': [
        ['brake_curl==1', {
          'sources': [
            '<!@(node -p "require(\'./<(brake_root)/native/sources.json\').curl.map(f=>\'<(brake_root)/\'+f).join(\' \')")',
          ],
          'defines': ['BRAKE_HAVE_CURL=1'],
          'cflags': ['<!@(pkg-config --cflags libcurl)'],
          'libraries': ['<!@(pkg-config --libs libcurl)'],
        }],
      ],
      'xcode_settings': {
        'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
        'GCC_ENABLE_CPP_RTTI': 'YES',
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
        'OTHER_CFLAGS': ['-fvisibility=hidden'],
      },
      'msvs_settings': {
        'VCCLCompilerTool': { 'ExceptionHandling': 1, 'AdditionalOptions': ['/std:c++17'] },
      },
    },
  ],
}
