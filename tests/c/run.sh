#!/usr/bin/env bash
# Tests of the C interface, run by `make test` (target test-c) after the release build of
# libkinema.so and libkinema-testengine.so:
#   1. exports: libkinema.so exports exactly the functions kinema.h declares (nm), and links
#      no Swift runtime library (ldd);
#   2. the header compiles cleanly as C99, C11 and C++11 with gcc and clang;
#   3. `make install` into a temporary prefix; the example and the tests are built against
#      that copy with `cc $(pkg-config --cflags --libs kinema)`;
#   4. the installed library runs in a minimal environment (no Swift toolchain on any path);
#   5. struct layouts seen by C match the library's;
#   6. the hostile-caller test and the example (success, failure and Ctrl-C paths) under
#      valgrind: no invalid access, nothing definitely or indirectly lost.
# Generation runs use the test engine (libkinema-testengine.so, preloaded so that it serves the
# kinema_* calls) with small model directories written here.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$ROOT/.build/release"
HERE="$ROOT/tests/c"
MAKE="${MAKE:-make}"

fail() {
    echo "tests/c: FAIL: $*" >&2
    exit 1
}

for tool in cc gcc g++ clang clang++ valgrind pkg-config nm ldd strip; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "'$tool' is not installed; the C interface tests need gcc, g++, clang, clang++, valgrind and pkg-config (apt-get install build-essential clang valgrind pkg-config)"
done
for lib in libkinema.so libkinema-testengine.so; do
    [ -f "$BUILD/$lib" ] || fail "$BUILD/$lib is missing; run 'swift build -c release --product ${lib%.so}' (make test does)"
done

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

# The engine tests preload (debug info stripped, for valgrind's DWARF reader).
cp "$BUILD/libkinema-testengine.so" "$TMP/libkinema-testengine.so"
strip --strip-debug "$TMP/libkinema-testengine.so"
mkdir -p "$TMP/fast-model" "$TMP/slow-model" "$TMP/work"
echo '{"block_seconds": 0.0005}' >"$TMP/fast-model/kinema-test-engine.json"
echo '{"steps": 20, "block_seconds": 0.02}' >"$TMP/slow-model/kinema-test-engine.json"

# MARK: - 4. A minimal environment
step "installed library with no Swift toolchain on any path"
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
"${minimal[@]}" "$TMP/layout_test" || fail "struct layouts differ between kinema.h and libkinema.so"

# MARK: - 5. Valgrind
valgrind_run() {
    # valgrind_run EXPECTED_EXIT LOG_NAME COMMAND...
    local expected=$1 name=$2
    shift 2
    local rc=0
    valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --suppressions="$HERE/valgrind.supp" --log-file="$TMP/$name.valgrind" \
        "$@" >"$TMP/$name.out" 2>&1 || rc=$?
    if [ $rc -ne "$expected" ]; then
        cat "$TMP/$name.out" "$TMP/$name.valgrind" >&2
        fail "$name: exit status $rc under valgrind, expected $expected"
    fi
    if grep -qE 'definitely lost|indirectly lost|Invalid (read|write|free)|uninitialised' "$TMP/$name.valgrind"; then
        cat "$TMP/$name.valgrind" >&2
        fail "$name: valgrind reports errors or leaks"
    fi
    echo "$name: exit $rc, valgrind clean"
}
with_engine=(env LD_PRELOAD="$TMP/libkinema-testengine.so" LD_LIBRARY_PATH="$TMP/prefix/lib")

step "hostile caller under valgrind"
valgrind_run 0 hostile "${with_engine[@]}" "$TMP/hostile_test" "$TMP/fast-model" "$TMP/slow-model" "$TMP/work"
tail -1 "$TMP/hostile.out"

step "example under valgrind: success, failures, Ctrl-C"
video="$TMP/work/video.safetensors"
valgrind_run 0 success "${with_engine[@]}" "$TMP/generate" -q -m "$TMP/fast-model" -o "$video" -S 5 "a red fox"
[ -s "$video" ] || fail "the example reported success but wrote no $video"
grep -q "seed 5" "$TMP/success.out" || fail "the example did not report its seed: $(cat "$TMP/success.out")"
rm -f "$video"
# MP4 through FFmpeg, outside valgrind (libswscale's SIMD reads past the end of its input
# rows, which memcheck reports; the C interface's own paths are covered above).
LD_PRELOAD="$TMP/libkinema-testengine.so" LD_LIBRARY_PATH="$TMP/prefix/lib" \
    "$TMP/generate" -q -m "$TMP/fast-model" -o "$TMP/work/video.mp4" "a red fox" >/dev/null 2>&1 ||
    fail "the example could not write an MP4"
[ "$(dd if="$TMP/work/video.mp4" bs=1 skip=4 count=4 2>/dev/null)" = ftyp ] || fail "video.mp4 is not an MP4 file"
rm -f "$TMP/work/video.mp4"
valgrind_run 1 bad-size "${with_engine[@]}" "$TMP/generate" -q -m "$TMP/fast-model" -o "$video" -W 33 "a red fox"
valgrind_run 1 bad-model "${with_engine[@]}" "$TMP/generate" -q -m "$TMP/no-such-model" -o "$video" "a red fox"
[ ! -e "$video" ] || fail "a failed generation left $video behind"

# Ctrl-C: SIGINT once the progress line shows denoising; the job must stop and leave no file.
(
    cd "$TMP" &&
        exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
            --suppressions="$HERE/valgrind.supp" --log-file="$TMP/cancel.valgrind" \
            "${with_engine[@]}" "$TMP/generate" -m "$TMP/slow-model" -o "$video" "a red fox" \
            >"$TMP/cancel.out" 2>&1
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
if grep -qE 'definitely lost|indirectly lost|Invalid (read|write|free)|uninitialised' "$TMP/cancel.valgrind"; then
    cat "$TMP/cancel.valgrind" >&2
    fail "Ctrl-C: valgrind reports errors or leaks"
fi
[ ! -e "$video" ] || fail "a cancelled generation left $video behind"
ls "$TMP/work" | grep -q . && fail "temporary files left in $TMP/work: $(ls -a "$TMP/work")"
echo "cancel: exit 130, no output, valgrind clean"

echo "tests/c: all passed"
