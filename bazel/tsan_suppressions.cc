// ThreadSanitizer suppressions, compiled into every binary of a
// `--config=tsan` build (the runtime calls __tsan_default_suppressions).
//
// Debian's gRPC is not instrumented. Its C++ API inlines parts of the
// callback machinery into our code (grpcpp/support/callback_common.h,
// grpcpp/impl/call_op_set.h, server_callback_handlers.h): call ops and tags
// are filled in on one thread and finished on another, and the hand-off goes
// through gRPC's completion queue inside the library, which TSan cannot see.
// Suppressed: an access whose top frame is a function of namespace grpc or
// an atomic member of a gRPC object (race_top matches only that frame), and an access made while
// gRPC fills or finishes a call's operations (CallOpSet: serializing our response, parsing into our
// request message), sets up a callback tag, or constructs or destroys its per-call stream object
// (frames that never run our code). Our reactor's callbacks run after CallOpSet::FinalizeResult has
// returned, not inside it, so a race in our own code, called from a gRPC callback, still reports.
// Also the reactor's pre-bind backlog (a Finish started in the reactor's constructor, which the
// certificate stream does when a stream limit refuses it): gRPC moves it out under its own mutex
// when it binds the stream and destroys it with the reactor, code that never runs ours.
// gRPC's executor threads outlive main() by design (thread leak at exit).
extern "C" const char* __tsan_default_suppressions() {
  return "race_top:^grpc::\n"
         "race_top:std::__atomic_base<grpc::\n"
         "race:grpc::internal::CallOpSet<\n"
         "race:grpc::internal::CallbackWithSuccessTag::Set\n"
         "race:ServerCallbackReaderWriterImpl::ServerCallbackReaderWriterImpl\n"
         "race:ServerCallbackReaderWriterImpl::~ServerCallbackReaderWriterImpl\n"
         "race:PreBindBacklog::~PreBindBacklog\n"
         // The client stream's constructor itself, not the callbacks it
         // defines as lambdas (those frames end in "const", not ")").
         "race:>::ClientCallbackReaderWriterImpl(grpc::internal::Call, grpc::ClientContext*, "
         "grpc::ClientBidiReactor<tether::ca::v1::StreamRequest, "
         "tether::ca::v1::StreamResponse>*)$\n"
         "race:>::~ClientCallbackReaderWriterImpl(\n"
         "thread:grpc_core::Thread::Thread\n";
}
