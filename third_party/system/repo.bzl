"""system_libraries: Debian's -dev packages as Bazel cc_library targets.

The link flags come from pkg-config when the repository is set up, so the
targets follow whatever Debian ships. Headers live in /usr/include, which the
C++ toolchain already searches. OpenSSL (-lssl/-lcrypto) is dropped from every
link line: libgrpc.so carries its own dependency on it, and Tether's binaries
must never resolve a TLS symbol to OpenSSL (BoringSSL is linked statically).
"""

# target name -> (pkg-config modules, extra link flags)
_LIBRARIES = {
    "absl": ([
        "absl_base",
        "absl_cleanup",
        "absl_flags",
        "absl_flags_parse",
        "absl_flat_hash_map",
        "absl_flat_hash_set",
        "absl_hash",
        "absl_random_random",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ], []),
    "benchmark": (["benchmark"], ["-lbenchmark_main"]),
    "gmock": (["gmock"], []),
    "gtest": (["gtest"], []),
    "gtest_main": (["gtest_main", "gmock"], []),
    "grpc++": (["grpc++"], []),
    "grpc++_reflection": (["grpc++"], ["-lgrpc++_reflection"]),
    # nodejs/http-parser (libhttp-parser-dev): HTTP/1.x requests and responses.
    "http_parser": ([], ["-lhttp_parser"]),
    "libevent": (["libevent_core", "libevent_pthreads"], []),
    "nghttp2": (["libnghttp2"], []),
    "nlohmann_json": ([], []),
    # The core library only: prometheus-cpp-pull and -push bring civetweb and curl.
    "prometheus": (["prometheus-cpp-core"], []),
    "protobuf": (["protobuf"], []),
    "yaml-cpp": (["yaml-cpp"], []),
}

_DEPS = {
    "grpc++": ["protobuf", "absl"],
    "grpc++_reflection": ["grpc++"],
    "gmock": ["gtest"],
    "gtest_main": ["gtest", "gmock"],
}

_DROPPED = ["-lssl", "-lcrypto"]

def _impl(rctx):
    out = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (modules, extra) in _LIBRARIES.items():
        flags = []
        if modules:
            res = rctx.execute(["pkg-config", "--libs"] + modules)
            if res.return_code != 0:
                fail("pkg-config could not find %s: %s\nRun `make deps` to install Debian's -dev packages." %
                     (modules, res.stderr))
            flags = res.stdout.strip().split(" ")
        seen = {}
        linkopts = []
        for f in flags + extra:
            if not f or f in _DROPPED:
                continue

            # pkg-config repeats libraries; keep the last occurrence for link order.
            if f.startswith("-l") and f in seen:
                linkopts.remove(f)
            seen[f] = True
            linkopts.append(f)
        out.append("cc_library(")
        out.append('    name = "%s",' % name)
        out.append("    linkopts = %s," % repr(linkopts))
        out.append("    deps = %s," % repr([":" + d for d in _DEPS.get(name, [])]))
        out.append(")")
        out.append("")
    for tool in ("protoc", "grpc_cpp_plugin"):
        path = rctx.which(tool)
        if not path:
            fail("%s not found; run `make deps` to install Debian's protobuf-compiler-grpc." % tool)
        rctx.symlink(path, tool)
        out.append('exports_files(["%s"])' % tool)
    rctx.file("BUILD.bazel", "\n".join(out) + "\n")
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)

system_libraries = repository_rule(
    implementation = _impl,
    local = True,
    doc = "Declares Debian's system C++ libraries as cc_library targets.",
)
