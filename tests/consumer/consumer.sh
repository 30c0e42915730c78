#!/usr/bin/env bash
# Out-of-tree consumers of libntm, built the three ways the README shows (docs/embedding.md):
#
#   consumer.sh readme            the README's embedding section equals the files and commands here
#   consumer.sh install           DESTDIR-staged install of the NTM build: layout, SONAME, exported
#                                 symbols, ntm.pc against the library's real dependencies
#   consumer.sh find_package      C and C++ consumers: find_package(ntm) in the staged install
#   consumer.sh pkg_config        C and C++ consumers: cc / c++ $(pkg-config --cflags --libs ntm)
#   consumer.sh add_subdirectory  C and C++ consumers with NTM's source tree as their ntm/
#
# The consumers are c/app.c (project(app C)) and cpp/app.cpp (project(app CXX)). Each one built
# runs as a node against a real ntm-dc on 127.0.0.1 and exchanges random bytes both ways with
# ntm-cat -l on another node; both directions are compared byte for byte.
#
# Environment (set by CMakeLists.txt): NTM_SOURCE_DIR, NTM_BUILD_DIR (a built NTM tree),
# NTM_VERSION, NTM_CONSUMER_WORK (scratch; the staged install is $NTM_CONSUMER_WORK/stage).
set -euo pipefail
mode=${1:?usage: consumer.sh readme|install|find_package|pkg_config|add_subdirectory}
here=$(cd "$(dirname "$0")" && pwd)
src=${NTM_SOURCE_DIR:?}
build=${NTM_BUILD_DIR:?}
version=${NTM_VERSION:?}
work=${NTM_CONSUMER_WORK:?}
stage=$work/stage
prefix=/usr/local
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

die() {
  echo "FAIL: $*" >&2
  exit 1
}
show() {  # show FILE...: the logs of a failed step
  for f in "$@"; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }; done
  return 0
}

# --- the running side: one DC, and ntm-cat -l as the peer of each consumer ---------------

# start_dc BIN_DIR: ntm-dc on 127.0.0.1 (port chosen by the kernel); exports NTM_DC, NTM_DC_KEY.
start_dc() {
  local bin=$1 dc=$run/dc
  "$bin/ntm-dc" --state-dir "$dc" --print-public-key > "$run/dc.pub"
  "$bin/ntm-dc" --state-dir "$dc" --listen 127.0.0.1:0 --domain consumer.ntm.test \
    --vip4-pool 100.64.0.0/24 --vip6-pool fd00:6e74:6d::/112 --port-file "$run/dc.port" \
    2> "$run/dc.log" &
  pids+=("$!")
  local i
  for ((i = 0; i < 200; i++)); do
    [ -s "$run/dc.port" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  [ -s "$run/dc.port" ] || { show "$run/dc.log"; die "ntm-dc did not start"; }
  NTM_DC="127.0.0.1:$(head -1 "$run/dc.port")"
  NTM_DC_KEY=$(cat "$run/dc.pub")
  export NTM_DC NTM_DC_KEY NTM_BIND=127.0.0.1:0
}

# exchange LABEL BIN_DIR CMD...: node peer-LABEL runs BIN_DIR/ntm-cat -l 9000; node LABEL runs
# CMD peer-LABEL.consumer.ntm.test 9000 (the consumer); random bytes go both ways and must
# arrive intact.
exchange() {
  local label=$1 bin=$2
  shift 2
  local d=$run/$label
  mkdir -p "$d"
  head -c 300000 /dev/urandom > "$d/app.in"
  head -c 200000 /dev/urandom > "$d/peer.in"
  NTM_NAME=peer-$label NTM_STATE_DIR=$d/peer-state timeout 120 "$bin/ntm-cat" -v -l 9000 \
    < "$d/peer.in" > "$d/peer.out" 2> "$d/peer.err" &
  local peer=$!
  pids+=("$peer")
  local i
  for ((i = 0; i < 400; i++)); do
    grep -q listening "$d/peer.err" 2>/dev/null && break
    kill -0 "$peer" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q listening "$d/peer.err"; then
    show "$d/peer.err" "$run/dc.log"
    die "$label: ntm-cat -l did not start"
  fi
  if ! NTM_NAME=$label NTM_STATE_DIR=$d/state timeout 120 "$@" \
    "peer-$label.consumer.ntm.test" 9000 < "$d/app.in" > "$d/app.out" 2> "$d/app.err"; then
    show "$d/app.err" "$d/peer.err" "$run/dc.log"
    die "$label: the consumer failed"
  fi
  wait "$peer" || { show "$d/peer.err"; die "$label: ntm-cat -l failed"; }
  cmp -s "$d/app.in" "$d/peer.out" || die "$label: bytes sent by the consumer arrived altered"
  cmp -s "$d/peer.in" "$d/app.out" || die "$label: bytes sent to the consumer arrived altered"
  echo "ok  $label: $(stat -c %s "$d/app.in") bytes out, $(stat -c %s "$d/app.out") in, intact"
}

# project LANG WAY: a fresh consumer project directory in $run/LANG (its path on stdout).
project() {
  local lang=$1 way=$2 dir=$run/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$here/$lang/app."* "$dir/"
  [ -z "$way" ] || cp "$here/$lang/$way/CMakeLists.txt" "$dir/"
  echo "$dir"
}

# The staged install of the NTM build (made by the install mode).
staged_libdir() {
  local lib
  lib=$(find "$stage$prefix" -name libntm.so -print -quit 2>/dev/null)
  [ -n "$lib" ] || die "no staged install in $stage (ctest runs consumer.install first)"
  dirname "$lib"
}

# loaded_libntm PROGRAM: the file the dynamic linker would load as libntm for PROGRAM.
loaded_libntm() {
  local path
  path=$(ldd "$1" | sed -n 's/^[[:space:]]*libntm\.so[^ ]* => \([^ ]*\) .*/\1/p')
  [ -n "$path" ] && readlink -f "$path"
}

# --- modes ---------------------------------------------------------------------------------

# The README's embedding section: each block marked <!-- consumer-file: PATH --> equals
# tests/consumer/PATH; each line of a block marked <!-- consumer-commands --> is a line this
# script runs. The C++ projects differ from the C ones only as the README says.
mode_readme() {
  local readme=$src/README.md n=0 marker="" in_block=0 line body=""
  while IFS= read -r line; do
    if [ $in_block = 1 ]; then
      if [ "$line" = '```' ]; then
        in_block=0
        case $marker in
          file:*)
            cmp -s <(printf '%s' "$body") "$here/${marker#file:}" ||
              die "README block for ${marker#file:} differs from tests/consumer/${marker#file:}"
            ;;
          commands)
            while IFS= read -r cmd; do
              [ -n "$cmd" ] || continue
              grep -qxF -- "$cmd" <(sed 's/^[[:space:]]*//' "$here/consumer.sh") ||
                die "README command not run by tests/consumer/consumer.sh: $cmd"
            done <<< "$body"
            ;;
        esac
        n=$((n + 1))
        marker=""
      else
        body+="$line"$'\n'
      fi
    elif [[ $line =~ ^\<!--\ consumer-file:\ ([^ ]+)\ --\>$ ]]; then
      marker=file:${BASH_REMATCH[1]}
    elif [ "$line" = '<!-- consumer-commands -->' ]; then
      marker=commands
    elif [ -n "$marker" ] && [[ $line == '```'* ]]; then
      in_block=1
      body=""
    fi
  done < "$readme"
  [ $n -ge 4 ] || die "README: expected the marked embedding blocks, found $n"
  local way
  for way in add_subdirectory find_package; do
    cmp -s <(sed 's/project(app C)/project(app CXX)/; s/app\.c)/app.cpp)/' \
      "$here/c/$way/CMakeLists.txt") "$here/cpp/$way/CMakeLists.txt" ||
      die "cpp/$way/CMakeLists.txt differs from c/$way/ by more than CXX and app.cpp"
  done
  echo "ok  README: $n embedding blocks match tests/consumer"
}

mode_install() {
  rm -rf "$stage"
  DESTDIR="$stage" cmake --install "$build" --prefix "$prefix" > "$run/install.log" ||
    { show "$run/install.log"; die "cmake --install failed"; }
  local root=$stage$prefix lib f
  lib=$(staged_libdir)
  for f in include/ntm/ntm.h include/ntm/ntm.hpp bin/ntm-dc bin/ntm-cat bin/ntm-ping; do
    [ -e "$root/$f" ] || die "not installed: $prefix/$f"
  done
  for f in libntm.so cmake/ntm/ntmConfig.cmake cmake/ntm/ntmConfigVersion.cmake \
    cmake/ntm/ntmTargets.cmake pkgconfig/ntm.pc; do
    [ -e "$lib/$f" ] || die "not installed: ${lib#"$stage"}/$f"
  done

  # SONAME libntm.so.MAJOR.MINOR while the major version is 0 (libntm/node.cmake).
  local major=${version%%.*} rest=${version#*.} soname
  local want=libntm.so.$major
  [ "$major" != 0 ] || want=libntm.so.0.${rest%%.*}
  soname=$(readelf -d "$lib/libntm.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ "$soname" = "$want" ] || die "SONAME is '$soname', expected $want"
  [ -e "$lib/$soname" ] || die "no $soname next to libntm.so"

  # Exported: exactly the functions ntm.h declares.
  local declared exported
  declared=$(grep -oE '^[a-z][^(]*\bntm_[a-z0-9_]+\(' "$root/include/ntm/ntm.h" |
    grep -oE 'ntm_[a-z0-9_]+' | sort -u)
  exported=$(nm -D --defined-only "$lib/libntm.so" | awk '{print $3}' | sed 's/@.*//' | sort -u)
  [ -n "$declared" ] || die "no declarations found in ntm.h"
  [ "$declared" = "$exported" ] ||
    die "libntm.so exports other symbols than ntm.h declares (< declared only, > exported only):" \
      "$(diff <(echo "$declared") <(echo "$exported") | grep '^[<>]' | tr '\n' ' ')"

  # ntm.pc: the library's DT_NEEDED entries (beyond libc's own parts) are its Libs.private,
  # and a consumer's compile line gets NTM's include directory and nothing else.
  export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
  local needed private
  needed=$(readelf -d "$lib/libntm.so" | sed -n 's/.*(NEEDED).*\[lib\([^.]*\)\.so.*\]/-l\1/p' |
    grep -vxE -- '-l(c|m|gcc_s|pthread|dl|rt)' | sort)
  private=$(pkg-config --static --libs-only-l ntm | tr ' ' '\n' | grep -vxE -- '-l(ntm|c|m)|' |
    sort)
  [ "$needed" = "$private" ] || die "ntm.pc Libs.private ($(tr '\n' ' ' <<< "$private"))" \
    "is not what libntm.so is linked against ($(tr '\n' ' ' <<< "$needed"))"
  [ "$(pkg-config --modversion ntm)" = "$version" ] || die "ntm.pc version is not $version"
  local cflags
  cflags=$(pkg-config --cflags ntm | sed 's/[[:space:]]*$//')
  [ "$cflags" = "-I$root/include" ] || die "pkg-config --cflags ntm gives '$cflags'"

  # Installed programs find the installed libntm (RUNPATH $ORIGIN/../lib).
  [ "$(loaded_libntm "$root/bin/ntm-cat")" = "$(readlink -f "$lib/$soname")" ] ||
    die "installed ntm-cat does not load the installed libntm:" \
      "$(ldd "$root/bin/ntm-cat" | grep ntm)"
  echo "ok  install: $prefix in $stage, $soname exports $(echo "$exported" | wc -l) ntm_* functions"
}

mode_find_package() {
  local root=$stage$prefix lang dir
  staged_libdir > /dev/null
  start_dc "$root/bin"
  export CMAKE_PREFIX_PATH=$root
  for lang in c cpp; do
    dir=$(project $lang find_package)
    (
      cd "$dir"
      cmake -S . -B build && cmake --build build
    ) > "$dir.log" 2>&1 || { show "$dir.log"; die "$lang: find_package consumer did not build"; }
    grep -qx "ntm_DIR:PATH=$(staged_libdir)/cmake/ntm" "$dir/build/CMakeCache.txt" ||
      die "$lang: find_package(ntm) did not find the staged install"
    exchange "$lang-find-package" "$root/bin" "$dir/build/app"
  done
}

mode_pkg_config() {
  local root=$stage$prefix lang dir lib
  lib=$(staged_libdir)
  start_dc "$root/bin"
  export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
  for lang in c cpp; do
    dir=$(project $lang "")
    (
      cd "$dir"
      # shellcheck disable=SC2046  # the flags are words, as in the README
      if [ $lang = c ]; then
        cc app.c -o app $(pkg-config --cflags --libs ntm)
      else
        c++ app.cpp -o app $(pkg-config --cflags --libs ntm)
      fi
    ) > "$dir.log" 2>&1 || { show "$dir.log"; die "$lang: pkg-config consumer did not build"; }
    # A staged library is not where the dynamic linker looks; an installed one would be.
    exchange "$lang-pkg-config" "$root/bin" env LD_LIBRARY_PATH="$lib" "$dir/app"
  done
}

mode_add_subdirectory() {
  local lang dir
  start_dc "$build/bin"
  for lang in c cpp; do
    dir=$(project $lang add_subdirectory)
    ln -s "$src" "$dir/ntm"
    local t0=$SECONDS
    (
      cd "$dir"
      cmake -S . -B build && cmake --build build
    ) > "$dir.log" 2>&1 || { show "$dir.log"; die "$lang: add_subdirectory consumer failed"; }
    echo "    $lang: configured and built with NTM inside in $((SECONDS - t0)) s"
    # NTM as a subproject builds libntm only: no tests, apps or benchmarks; no GTest, no Boost.
    [ -e "$dir/build/ntm/lib/libntm.so" ] || die "$lang: no libntm.so in the consumer's build"
    ! ls "$dir/build/ntm/bin" > /dev/null 2>&1 || die "$lang: NTM built programs as a subproject"
    ! grep -qE '^(GTest_DIR|GTEST_INCLUDE_DIR|Boost_DIR):' "$dir/build/CMakeCache.txt" ||
      die "$lang: NTM looked for GTest or Boost as a subproject"
    [ "$(loaded_libntm "$dir/build/app")" = "$(readlink -f "$dir/build/ntm/lib/libntm.so")" ] ||
      die "$lang: the consumer does not load its own libntm: $(ldd "$dir/build/app" | grep ntm)"
    exchange "$lang-add-subdirectory" "$build/bin" "$dir/build/app"
  done
}

case $mode in
  readme | install | find_package | pkg_config | add_subdirectory) ;;
  *) die "unknown mode $mode" ;;
esac
run=$work/$mode
rm -rf "$run"
mkdir -p "$run"
"mode_$mode"
