// EchoGrpcServer: the tether.test.Echo gRPC service (echo.proto) on
// 127.0.0.1 (plaintext HTTP/2, as an app behind its proxy), counting the
// calls it answered.
//
//   EchoGrpcServer server;                       // listening on server.port()
//   ... a client calls Say / Fail / Repeat ...
//   EXPECT_EQ(server.calls(), 10);
#ifndef TETHER_TESTS_TESTING_GRPC_ECHO_GRPC_SERVER_H_
#define TETHER_TESTS_TESTING_GRPC_ECHO_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "tests/testing/grpc/echo.grpc.pb.h"

namespace tether::testing {

class EchoGrpcServer {
 public:
  EchoGrpcServer();
  ~EchoGrpcServer();
  int port() const { return port_; }
  int calls() const { return service_.calls.load(); }

 private:
  struct Service final : public tether::test::Echo::Service {
    grpc::Status Say(grpc::ServerContext*, const tether::test::EchoRequest* req,
                     tether::test::EchoReply* reply) override;
    grpc::Status Fail(grpc::ServerContext*, const tether::test::EchoRequest* req,
                      tether::test::EchoReply* reply) override;
    grpc::Status Repeat(grpc::ServerContext*, const tether::test::EchoRequest* req,
                        grpc::ServerWriter<tether::test::EchoReply>* writer) override;
    std::atomic<int> calls{0};
  };
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_GRPC_ECHO_GRPC_SERVER_H_
