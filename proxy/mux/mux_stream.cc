#include "proxy/mux/mux_stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <unistd.h>

#include "proxy/mux/mux_channel.h"

namespace tether::proxy {
namespace mux_internal {
namespace {

void AddOne(int fd) {
  uint64_t one = 1;
  while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void DrainCounter(int fd) {
  uint64_t count;
  while (read(fd, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
}

}  // namespace

void Raise(StreamState& s, bool read_edge, bool write_edge) {
  if (s.notify_fd < 0) return;
  if (write_edge) {
    // Only a read of a non-zero counter wakes EPOLLOUT watchers: make it
    // non-zero, read it, then restore readability if the stream has any.
    if (!s.signaled) AddOne(s.notify_fd);
    DrainCounter(s.notify_fd);
    s.signaled = false;
    if (s.Readable()) {
      AddOne(s.notify_fd);
      s.signaled = true;
    }
    return;
  }
  if (read_edge) {
    // Every write wakes EPOLLIN watchers again, even on a non-zero counter.
    AddOne(s.notify_fd);
    s.signaled = true;
  }
}

}  // namespace mux_internal

MuxStream::MuxStream(std::shared_ptr<mux_internal::StreamState> state, UniqueFd notify_fd)
    : state_(std::move(state)), notify_fd_(std::move(notify_fd)) {
  state_->notify_fd = notify_fd_.get();
  state_->orphaned = false;
  if (state_->Readable()) mux_internal::Raise(*state_, /*read=*/true, /*write=*/false);
}

MuxStream::~MuxStream() {
  state_->notify_fd = -1;
  if (state_->channel != nullptr) state_->channel->StreamGone(*state_);
}

IoStatus MuxStream::Handshake() {
  mux_internal::StreamState& s = *state_;
  if (!s.error.empty()) return IoStatus::kError;
  if (s.server) {
    if (!s.responded && !Accept()) return IoStatus::kError;
    return IoStatus::kOk;
  }
  if (s.wait_for_response && !s.responded) return IoStatus::kWouldBlock;
  return IoStatus::kOk;
}

IoStatus MuxStream::Read(uint8_t* buf, size_t len, size_t* n) {
  mux_internal::StreamState& s = *state_;
  if (!s.server && s.wait_for_response && !s.responded && s.error.empty()) {
    return IoStatus::kWouldBlock;
  }
  if (!s.recv.empty()) {
    if (len == 0) return IoStatus::kWouldBlock;
    *n = std::min(len, s.recv.size());
    std::memcpy(buf, s.recv.front(), *n);
    s.recv.Pop(*n);
    if (s.channel != nullptr) s.channel->Consume(s, *n);
    return IoStatus::kOk;
  }
  if (s.remote_eof) return IoStatus::kEof;
  if (!s.error.empty()) return IoStatus::kError;
  return IoStatus::kWouldBlock;
}

IoStatus MuxStream::Write(const uint8_t* buf, size_t len, size_t* n) {
  mux_internal::StreamState& s = *state_;
  if (!s.error.empty()) return IoStatus::kError;
  if (s.local_shut) {
    s.error = "write_after_shutdown";
    return IoStatus::kError;
  }
  if (s.channel == nullptr) {  // not reached: detaching sets an error
    s.error = "mux_reset";
    return IoStatus::kError;
  }
  const size_t space = s.send_limit > s.send.size() ? s.send_limit - s.send.size() : 0;
  if (space == 0) {
    s.write_blocked = true;
    return IoStatus::kWouldBlock;
  }
  *n = std::min(len, space);
  s.send.Append(buf, *n);
  s.channel->ResumeData(s);
  return IoStatus::kOk;
}

IoStatus MuxStream::ShutdownWrite() {
  mux_internal::StreamState& s = *state_;
  if (!s.error.empty()) return IoStatus::kError;
  if (s.local_shut) return IoStatus::kOk;
  s.local_shut = true;
  if (s.channel != nullptr) s.channel->ResumeData(s);
  return IoStatus::kOk;
}

void MuxStream::Abort() {
  mux_internal::StreamState& s = *state_;
  if (s.channel != nullptr) {
    s.channel->AbortStream(s);
  } else {
    s.recv.Clear();
    s.send.Clear();
  }
  if (s.error.empty()) s.error = "aborted";
}

bool MuxStream::Accept() {
  mux_internal::StreamState& s = *state_;
  if (!s.server || s.channel == nullptr) return false;
  return s.channel->AcceptStream(s);
}

void MuxStream::Refuse(int status) {
  mux_internal::StreamState& s = *state_;
  if (!s.server || s.channel == nullptr || s.responded) return;
  s.channel->RefuseStream(s, status);
}

}  // namespace tether::proxy
