#!/usr/bin/env bash
# Tests of the C interface, run by `make test` (target test-c) after the release build of
# libkinema.so (make lib):
#   1. exports: libkinema.so exports exactly the functions kinema.h declares (nm), and links
#      no Swift runtime library (ldd);
#   2. the header compiles cleanly as C99, C11 and C++11 with gcc and clang;
#   3. `make install` into a temporary prefix; the example and the tests are built against
#      that copy with `cc $(pkg-config --cflags --libs kinema)`;
#   4. the installed library generates a video in a minimal environment (no Swift toolchain
#      on any path);
#   5. struct layouts seen by C match the library's;
#   6. the hostile-caller test and the example (success, failure and Ctrl-C paths) under
#      valgrind: no invalid access, nothing definitely or indirectly lost.
# Generations use the tiny random-weight pipeline of the Swift tests at small sizes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$ROOT/.build/release"
HERE="$ROOT/tests/c"
MODEL="$ROOT/Tests/KinemaTests/Fixtures/tiny-pipeline"
MAKE="${MAKE:-make}"
# Small sizes the tiny model handles in milliseconds, and a longer run to interrupt.
QUICK=(-W 32 -H 32 -f 5 -s 2)
LONG=(-W 96 -H 96 -f 13 -s 20)

fail() {
    echo "tests/c: FAIL: $*" >&2
    exit 1
}

for tool in cc gcc g++ clang clang++ valgrind pkg-config nm ldd strip; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "'$tool' is not installed; the C interface tests need gcc, g++, clang, clang++, valgrind and pkg-config (apt-get install build-essential clang valgrind pkg-config)"
done
[ -f "$BUILD/libkinema.so" ] || fail "$BUILD/libkinema.so is missing; run 'make lib' (make test does)"
[ -f "$MODEL/model_index.json" ] || fail "the tiny pipeline fixture is missing at $MODEL"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/kinema-c-tests.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

step() { echo "== $*"; }

# MARK: - 1. Exports
step "exports"
declared="$(grep -oE '\bkinema_[a-z_]+\(' "$ROOT/include/kinema.h" | tr -d '(' | sort -u)"
exported="$(nm -D --defined-only --extern-only "$BUILD/libkinema.so" | awk '{print $3}' | sort -u)"
if [ "$declared" != "$exported" ]; then
    diff <(echo "$declared") <(echo "$exported") | sed 's/^/    /' >&2 || true
    fail "libkinema.so's global symbols (>) differ from the functions in kinema.h (<)"
fi
echo "libkinema.so exports $(echo "$exported" | wc -l) symbols, all declared in kinema.h"
if ldd "$BUILD/libkinema.so" | grep -Ei 'libswift|libFoundation|libdispatch|libBlocksRuntime'; then
    fail "libkinema.so depends on Swift runtime libraries"
fi

# MARK: - 2. Header
step "header: C99, C11, C++11 with gcc and clang"
flags=(-Wall -Wextra -pedantic -Werror -I"$ROOT/include" -c -o "$TMP/header.o")
for compiler in gcc clang; do
    for std in c99 c11; do
        "$compiler" -std="$std" "${flags[@]}" -Wstrict-prototypes "$HERE/header_test.c" ||
            fail "kinema.h does not compile cleanly with $compiler -std=$std"
    done
done
for compiler in g++ clang++; do
    "$compiler" -x c++ -std=c++11 "${flags[@]}" "$HERE/header_test.c" ||
        fail "kinema.h does not compile cleanly with $compiler -std=c++11"
done

# MARK: - 3. Install, build against the installed copy
step "make install PREFIX=$TMP/prefix"
"$MAKE" -s -C "$ROOT" install PREFIX="$TMP/prefix" >/dev/null
for f in lib/libkinema.so include/kinema.h lib/pkgconfig/kinema.pc; do
    [ -f "$TMP/prefix/$f" ] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
[ "$(pkg-config --modversion kinema)" = "$(sed -n 's/^#define KINEMA_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' "$ROOT/include/kinema.h" | paste -sd.)" ] ||
    fail "kinema.pc's version differs from kinema.h's"
read -r -a kinema_flags <<<"$(pkg-config --cflags --libs kinema)"
cc -O1 -g "$ROOT/examples/c/generate.c" "${kinema_flags[@]}" -o "$TMP/generate"
cc -O1 -g -std=c99 -Wall -Wextra -Werror "$HERE/layout_test.c" "${kinema_flags[@]}" -o "$TMP/layout_test"
cc -O1 -g -std=c99 -Wall -Wextra -Werror "$HERE/hostile_test.c" "${kinema_flags[@]}" -lm -o "$TMP/hostile_test"

# The usage example at the top of kinema.h compiles as written.
{
    echo '#include <stdio.h>'
    sed -n '/^ \*     #include <kinema.h>/,/^ \* kinema_generate() does/p' "$ROOT/include/kinema.h" |
        sed -e '1d' -e '$d' -e 's/^ \*     //' -e 's/^ \*$//' | sed '1i #include <kinema.h>\nint main(void) {'
    echo '    return 0;'
    echo '}'
} >"$TMP/usage.c"
grep -q kinema_job_start "$TMP/usage.c" || fail "could not extract the usage example from kinema.h"
cc -std=c99 -Wall -Wextra -pedantic -Werror "$TMP/usage.c" "${kinema_flags[@]}" -o "$TMP/usage" ||
    fail "the usage example in kinema.h does not compile"

mkdir -p "$TMP/work"

# MARK: - 4. A minimal environment
step "installed library, no Swift toolchain on any path: generate an MP4"
minimal=(env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$TMP/prefix/lib")
if "${minimal[@]}" ldd "$TMP/generate" | grep -E 'not found|libswift|/opt/swift'; then
    fail "the example resolves libraries outside the install prefix or misses some"
fi
"${minimal[@]}" "$TMP/generate" --help >/dev/null || fail "generate --help failed in a minimal environment"
set +e
out="$("${minimal[@]}" "$TMP/generate" -q -m "$TMP/no-such-model" "a prompt" 2>&1)"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "no model at $TMP/no-such-model" <<<"$out" ||
    fail "generate with a missing model: exit $rc, output: $out"
"${minimal[@]}" "$TMP/generate" -q -m "$MODEL" "${QUICK[@]}" -S 3 -o "$TMP/work/minimal.mp4" "a red fox" \
    >"$TMP/minimal.out" 2>&1 || fail "generate in a minimal environment: $(cat "$TMP/minimal.out")"
[ "$(dd if="$TMP/work/minimal.mp4" bs=1 skip=4 count=4 2>/dev/null)" = ftyp ] || fail "minimal.mp4 is not an MP4 file"
grep -q "minimal.mp4: 32x32, 5 frames" "$TMP/minimal.out" || fail "unexpected report: $(cat "$TMP/minimal.out")"
rm -f "$TMP/work/minimal.mp4"
"${minimal[@]}" "$TMP/layout_test" || fail "struct layouts differ between kinema.h and libkinema.so"

# Kinema-Tiny, when the source tree has it, is installed beside the library and is what a NULL
# model path loads.
INSTALLED_DEFAULT=()
if [ -f "$ROOT/models/kinema-tiny/model_index.json" ]; then
    default_dir="$TMP/prefix/share/kinema/models/kinema-tiny"
    [ -f "$default_dir/model_index.json" ] || fail "make install did not install Kinema-Tiny into $default_dir"
    INSTALLED_DEFAULT=("$default_dir")
    "${minimal[@]}" "$TMP/generate" -q -W 64 -H 64 -f 9 -s 2 -o "$TMP/work/default.mp4" "a blue character smiles" \
        >"$TMP/default.out" 2>&1 || fail "generate without -m (the installed Kinema-Tiny): $(cat "$TMP/default.out")"
    grep -q "default.mp4: 64x64, 9 frames" "$TMP/default.out" || fail "unexpected report: $(cat "$TMP/default.out")"
    rm -f "$TMP/work/default.mp4"
fi

# MARK: - 5. Valgrind
VALGRIND=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
          --suppressions="$HERE/valgrind.supp")

# Fails unless LOG shows valgrind ran PROGRAM itself and found no error and no lost block.
check_valgrind_log() {
    local name=$1 log=$2 program=$3
    grep -q "Command: $program" "$log" || { cat "$log" >&2; fail "$name: valgrind did not run $program"; }
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log" || grep -qE "(definitely|indirectly) lost: [1-9]" "$log"; then
        cat "$log" >&2
        fail "$name: valgrind reports errors or leaks"
    fi
}

valgrind_run() {
    # valgrind_run EXPECTED_EXIT NAME PROGRAM ARGS...
    local expected=$1 name=$2
    shift 2
    local rc=0
    "${VALGRIND[@]}" --log-file="$TMP/$name.valgrind" "$@" >"$TMP/$name.out" 2>&1 || rc=$?
    if [ $rc -ne "$expected" ]; then
        cat "$TMP/$name.out" "$TMP/$name.valgrind" >&2
        fail "$name: exit status $rc under valgrind, expected $expected"
    fi
    check_valgrind_log "$name" "$TMP/$name.valgrind" "$1"
    echo "$name: exit $rc, valgrind clean"
}
# The installed library, found through LD_LIBRARY_PATH (exported, not passed through env(1):
# valgrind does not follow an exec, so `valgrind env ... program` would check only env).
export LD_LIBRARY_PATH="$TMP/prefix/lib"

step "hostile caller under valgrind"
valgrind_run 0 hostile "$TMP/hostile_test" "$MODEL" "$TMP/work" "${INSTALLED_DEFAULT[@]}"
tail -1 "$TMP/hostile.out"

step "example under valgrind: success, failures, Ctrl-C"
video="$TMP/work/video.safetensors"
valgrind_run 0 success "$TMP/generate" -q -m "$MODEL" "${QUICK[@]}" -o "$video" -S 5 "a red fox"
[ -s "$video" ] || fail "the example reported success but wrote no $video"
grep -q "seed 5" "$TMP/success.out" || fail "the example did not report its seed: $(cat "$TMP/success.out")"
rm -f "$video"
valgrind_run 0 shots "$TMP/generate" -q -m "$MODEL" -W 32 -H 32 -r 16 -s 2 -o "$video" -S 5 \
    -c "0.5:a red fox" -b "0.25:a red fox asleep" -c "0.25:a snowy field"
grep -q "12 frames" "$TMP/shots.out" && grep -q "cuts at 0.5 s (frame 8)" "$TMP/shots.out" &&
    grep -q "shot 1: beats start at latent frames 3" "$TMP/shots.out" ||
    fail "the example's two shots: $(cat "$TMP/shots.out")"
rm -f "$video"
# An image as the first frame: a grey 8x8 PPM, scaled to cover the frame.
printf 'P6\n8 8\n255\n' >"$TMP/start.ppm"
head -c 192 /dev/zero | tr '\0' '\200' >>"$TMP/start.ppm"
valgrind_run 0 image "$TMP/generate" -q -m "$MODEL" "${QUICK[@]}" -i "$TMP/start.ppm" -o "$video" -S 5 "a red fox"
grep -q "image 8x8 scaled to cover" "$TMP/image.out" || fail "the example's image: $(cat "$TMP/image.out")"
rm -f "$video"
valgrind_run 1 missing-image "$TMP/generate" -q -m "$MODEL" "${QUICK[@]}" -i "$TMP/none.png" -o "$video" "a red fox"
valgrind_run 2 shots-and-prompt "$TMP/generate" -q -m "$MODEL" -c "0.5:a red fox" -o "$video" "a prompt"
valgrind_run 2 bad-shot "$TMP/generate" -q -m "$MODEL" -c "half:a red fox" -o "$video"
valgrind_run 2 stray-beat "$TMP/generate" -q -m "$MODEL" -b "0.5:a fox" -c "1:a red fox" -o "$video"
# (The valgrind runs write .safetensors: memcheck reports libswscale's SIMD reading past the
# end of the RGB rows the MP4 writer hands it; the MP4 path runs in step 4.)
valgrind_run 1 bad-size "$TMP/generate" -q -m "$MODEL" "${QUICK[@]}" -W 33 -o "$video" "a red fox"
valgrind_run 1 bad-model "$TMP/generate" -q -m "$TMP/no-such-model" -o "$video" "a red fox"
[ ! -e "$video" ] || fail "a failed generation left $video behind"

# Ctrl-C: SIGINT once the progress line shows denoising; the job must stop and leave no file.
(
    cd "$TMP" &&
        exec "${VALGRIND[@]}" --log-file="$TMP/cancel.valgrind" \
            "$TMP/generate" -m "$MODEL" "${LONG[@]}" -o "$video" "a red fox" >"$TMP/cancel.out" 2>&1
) &
pid=$!
for _ in $(seq 1 600); do
    grep -q denoising "$TMP/cancel.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -INT "$pid" 2>/dev/null || fail "the example ended before it could be interrupted: $(cat "$TMP/cancel.out")"
rc=0
wait "$pid" || rc=$?
if [ $rc -ne 130 ] || ! grep -q "generate: cancelled" "$TMP/cancel.out"; then
    cat "$TMP/cancel.out" "$TMP/cancel.valgrind" >&2
    fail "Ctrl-C: exit status $rc, expected 130 and 'cancelled'"
fi
check_valgrind_log cancel "$TMP/cancel.valgrind" "$TMP/generate"
[ ! -e "$video" ] || fail "a cancelled generation left $video behind"
ls "$TMP/work" | grep -q . && fail "temporary files left in $TMP/work: $(ls -a "$TMP/work")"
echo "cancel: exit 130, no output, valgrind clean"

echo "tests/c: all passed"
