#include "tests/testing/grpc/echo_grpc_server.h"

namespace tether::testing {

grpc::Status EchoGrpcServer::Service::Say(grpc::ServerContext*,
                                          const tether::test::EchoRequest* req,
                                          tether::test::EchoReply* reply) {
  ++calls;
  reply->set_message(req->message());
  return grpc::Status::OK;
}

grpc::Status EchoGrpcServer::Service::Fail(grpc::ServerContext*,
                                           const tether::test::EchoRequest* req,
                                           tether::test::EchoReply* reply) {
  ++calls;
  if (req->code() == 0) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(req->code()), "asked to fail");
}

grpc::Status EchoGrpcServer::Service::Repeat(
    grpc::ServerContext*, const tether::test::EchoRequest* req,
    grpc::ServerWriter<tether::test::EchoReply>* writer) {
  ++calls;
  tether::test::EchoReply reply;
  reply.set_message(req->message());
  for (int i = 0; i < 3; ++i) {
    if (!writer->Write(reply)) return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
  }
  return grpc::Status::OK;
}

EchoGrpcServer::EchoGrpcServer() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
}

EchoGrpcServer::~EchoGrpcServer() {
  if (server_) server_->Shutdown();
}

}  // namespace tether::testing
