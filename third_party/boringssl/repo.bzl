"""boringssl_repository: BoringSSL from Debian's source package.

Runs //third_party/boringssl:fetch.sh (which caches the tree under the user's
cache directory), links the tree into the external repository, and replaces
the package's own BUILD file with ours: the same source lists, compiled
statically with hidden symbols so they never collide with the OpenSSL that
Debian's gRPC links.
"""

def _impl(rctx):
    script = rctx.path(Label("//third_party/boringssl:fetch.sh"))
    res = rctx.execute(["bash", str(script)], timeout = 900, quiet = False)
    if res.return_code != 0:
        fail("fetching BoringSSL failed (%d); run `make deps` first.\n%s" % (res.return_code, res.stderr))
    tree = rctx.path(res.stdout.strip().splitlines()[-1])
    for entry in tree.readdir():
        if entry.basename in ("BUILD", "WORKSPACE", "debian"):
            continue
        rctx.symlink(entry, entry.basename)
    rctx.symlink(Label("//third_party/boringssl:BUILD.boringssl"), "BUILD.bazel")
    rctx.file("WORKSPACE", 'workspace(name = "boringssl")\n')

boringssl_repository = repository_rule(
    implementation = _impl,
    environ = ["HOME", "XDG_CACHE_HOME"],
    doc = "BoringSSL from Debian's android-platform-external-boringssl source package.",
)
