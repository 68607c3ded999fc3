"""Project macros: common compiler flags for Tether's own code, and protos.

    load("//bazel:tether.bzl", "tether_cc_library", "tether_cc_test")

    tether_cc_library(
        name = "x509",
        srcs = ["x509.cc"],
        hdrs = ["x509.h"],
        deps = ["@boringssl//:crypto"],
    )

Our code builds with warnings as errors; third-party code does not.
"""

TETHER_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-Wnon-virtual-dtor",
] + select({
    # `--config=fuzz` builds with clang, which has no -Wshadow=local.
    "//bazel:fuzzing": [],
    "//conditions:default": ["-Wshadow=local"],
})

# Every binary and test of a `--config=tsan` build carries the suppressions
# for gRPC's uninstrumented internals (bazel/tsan_suppressions.cc).
SANITIZER_DEPS = select({
    "//bazel:tsan": ["//bazel:tsan_suppressions"],
    "//conditions:default": [],
})

def tether_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = TETHER_COPTS + copts, **kwargs)

def tether_cc_binary(name, copts = [], deps = [], **kwargs):
    native.cc_binary(name = name, copts = TETHER_COPTS + copts, deps = deps + SANITIZER_DEPS, **kwargs)

def tether_cc_test(name, copts = [], deps = [], **kwargs):
    """A GoogleTest test; links gtest_main unless `deps` brings its own main."""
    native.cc_test(
        name = name,
        copts = TETHER_COPTS + copts,
        deps = deps + ["@system//:gtest_main"] + SANITIZER_DEPS,
        **kwargs
    )

def tether_cc_fuzz_test(name, srcs, deps = [], corpus = None, tags = [], **kwargs):
    """A libFuzzer target, and a test that replays its seed corpus.

    `name` defines `LLVMFuzzerTestOneInput`. Built with `--config=fuzz` (clang)
    it is a real libFuzzer binary; in every other build it links
    //tests/fuzz:corpus_driver, a main() that runs the target once over each
    file it is given, so `make test` replays the corpus under every sanitizer.

    `corpus` is a directory of seed inputs in this package, e.g.
    "corpus/http_request". It adds `name`_corpus_test, which runs the binary
    over every file in it (and fails if there are none). The binary is tagged
    `fuzz-target` and `corpus=<workspace path>`, which tools/fuzz.sh reads.
    """
    corpus_path = "%s/%s" % (native.package_name(), corpus) if corpus else None
    native.cc_binary(
        name = name,
        srcs = srcs,
        copts = TETHER_COPTS,
        linkopts = select({
            "//bazel:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//bazel:fuzzing": [],
            "//conditions:default": ["//tests/fuzz:corpus_driver"],
        }),
        testonly = True,
        tags = tags + ["fuzz-target"] + (["corpus=" + corpus_path] if corpus else []),
        **kwargs
    )
    if corpus:
        native.sh_test(
            name = name + "_corpus_test",
            srcs = ["//tests/fuzz:run_corpus.sh"],
            args = ["$(location :%s)" % name, corpus_path],
            data = [":" + name] + native.glob([corpus + "/**"], allow_empty = False),
            tags = tags + ["fuzz-corpus"],
        )

def tether_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    """Compiles .proto files with the system protoc (and grpc_cpp_plugin).

    Produces a cc_library `name` holding the generated messages (and, with
    grpc = True, the service stubs). `deps` are other tether_proto_library
    targets whose .proto files these import; imports are relative to the
    workspace root, e.g. `import "api/tether/ca/v1/ca.proto";`.
    """
    protos = [name + "_protos"]
    native.filegroup(name = name + "_protos", srcs = srcs, visibility = visibility)
    dep_protos = [d + "_protos" for d in deps]
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    pkg = native.package_name()
    cmd = "$(location @system//:protoc) -I. -I/usr/include --cpp_out=$(GENDIR)"
    if grpc:
        cmd += " --plugin=protoc-gen-grpc=$(location @system//:grpc_cpp_plugin) --grpc_out=$(GENDIR)"
    cmd += " " + " ".join(["%s/%s" % (pkg, s) for s in srcs])
    native.genrule(
        name = name + "_gen",
        srcs = srcs + dep_protos,
        outs = outs,
        cmd = cmd,
        tools = ["@system//:protoc", "@system//:grpc_cpp_plugin"],
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:protobuf"] + (["@system//:grpc++"] if grpc else []),
        visibility = visibility,
    )
