#include "web/server.hpp"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <unordered_set>

namespace kamstrup::web {

using Clock = std::chrono::steady_clock;

// Stricter request parsing within what RFC 9112 allows a server (e.g. Host required in 1.1).
#if MHD_VERSION >= 0x00097701
constexpr MHD_OPTION kStrict = MHD_OPTION_CLIENT_DISCIPLINE_LVL;  // libmicrohttpd 1.0 (trixie)
#else
constexpr MHD_OPTION kStrict = MHD_OPTION_STRICT_FOR_CLIENT;  // 0.9.75 (bookworm)
#endif

std::optional<std::string> Request::arg(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

void Routes::add(const std::string& method, const std::string& path, Handler handler) {
  routes_[path][method] = std::move(handler);
}

std::optional<std::string> Request::header(std::string_view name) const {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  const std::string want = lower(name);
  for (const auto& [k, v] : headers) {
    if (lower(k) == want) return v;
  }
  return std::nullopt;
}

Response Routes::dispatch(const Request& request) const {
  auto path = routes_.find(request.path);
  if (path == routes_.end()) return Response::text(404, "not found\n");
  const auto& methods = path->second;
  auto it = methods.find(request.method);
  if (it == methods.end() && request.method == "HEAD") it = methods.find("GET");
  if (it == methods.end()) {
    std::string allow;
    for (const auto& [m, h] : methods) {
      allow += (allow.empty() ? "" : ", ") + m;
      if (m == "GET") allow += ", HEAD";
    }
    Response r = Response::text(405, "method not allowed; allowed: " + allow + "\n");
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  try {
    return it->second(request);
  } catch (const std::exception& e) {
    return Response::text(500, std::string(e.what()) + "\n");
  }
}

// The server thread's side of a Stream: libmicrohttpd pulls chunks through read(); when there is
// none the connection is suspended, and push() resumes it. Suspending and resuming happen under
// the stream's lock, so a resume never precedes its suspend.
struct StreamAccess {
  static void attach(Stream& s, MHD_Connection* c, int server_wake) {
    std::lock_guard lock(s.mu_);
    s.connection_ = c;
    s.server_wake_ = server_wake;
  }

  static ssize_t read(Stream& s, char* buf, std::size_t max) {
    std::lock_guard lock(s.mu_);
    if (s.dropped_) return MHD_CONTENT_READER_END_WITH_ERROR;  // the client sees a cut body
    if (s.chunks_.empty()) {
      if (s.closed_ || s.connection_ == nullptr) return MHD_CONTENT_READER_END_OF_STREAM;
      s.suspended_ = true;
      MHD_suspend_connection(static_cast<MHD_Connection*>(s.connection_));
      return 0;
    }
    std::size_t n = 0;
    while (n < max && !s.chunks_.empty()) {
      const std::string& front = s.chunks_.front();
      const std::size_t take = std::min(max - n, front.size() - s.offset_);
      std::memcpy(buf + n, front.data() + s.offset_, take);
      n += take;
      s.offset_ += take;
      s.queued_ -= take;
      if (s.offset_ == front.size()) {
        s.chunks_.pop_front();
        s.offset_ = 0;
      }
    }
    return static_cast<ssize_t>(n);
  }

  // Called with the lock held: lets a suspended reader run again to see the news. With
  // external polling libmicrohttpd does not wake itself for a resumed connection: the server
  // loop must run it.
  static void wake(Stream& s) {
    if (!s.suspended_) return;
    s.suspended_ = false;
    MHD_resume_connection(static_cast<MHD_Connection*>(s.connection_));
    const std::uint64_t one = 1;
    while (::write(s.server_wake_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  // The response is gone (request over, client gone, server stopped): nothing attaches it any
  // more.
  static void detach(Stream& s) {
    std::lock_guard lock(s.mu_);
    s.closed_ = true;
    s.connection_ = nullptr;
    s.suspended_ = false;
    s.chunks_.clear();
    s.offset_ = 0;
    s.queued_ = 0;
  }

  // Server stop: end the stream and make sure its connection is not left suspended.
  static void end(Stream& s) {
    std::lock_guard lock(s.mu_);
    s.closed_ = true;
    if (s.connection_ != nullptr) wake(s);
  }
};

bool Stream::push(std::string chunk) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  if (queued_ + chunk.size() > max_queued_) {
    // The client is not reading: cut it off rather than buffer without bound.
    closed_ = true;
    dropped_ = true;
    chunks_.clear();
    offset_ = 0;
    queued_ = 0;
    if (connection_ != nullptr) StreamAccess::wake(*this);
    return false;
  }
  queued_ += chunk.size();
  chunks_.push_back(std::move(chunk));
  if (connection_ != nullptr) StreamAccess::wake(*this);
  return true;
}

void Stream::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  if (connection_ != nullptr) StreamAccess::wake(*this);
}

bool Stream::open() const {
  std::lock_guard lock(mu_);
  return !closed_;
}

namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool is_loopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
  }
  if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return in6.sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

// A listening socket on the first address of `host` that binds.
int listen_on(const std::string& host, std::uint16_t port, const std::string& where) {
  auto cannot = [&](const std::string& why) {
    return std::runtime_error("cannot listen on " + where + " (" + why + ")");
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints,
                       &res);
  if (rc != 0) throw cannot(gai_strerror(rc));
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) throw cannot(why + "; address in use or not local?");
  return fd;
}

// One socket: its absolute deadline for the request in progress.
struct Conn {
  MHD_Connection* connection = nullptr;
  int fd = -1;
  Clock::time_point deadline;
  bool answered = false;   // a response is queued for the current request
  bool streaming = false;  // exempt from the deadline
  bool expired = false;    // shut down, libmicrohttpd has yet to notice
};

}  // namespace

struct Server::Impl {
  ServerOptions opt;
  Routes routes;
  std::string expected_auth;  // base64 of "user:password", "" = no authentication
  MHD_Daemon* daemon = nullptr;
  int listen_fd = -1;  // owned by the daemon once it started
  int wake = -1;       // eventfd: stop(), or a stream resumed
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::uint16_t bound_port = 0;
  bool bound_loopback = false;
  // Server thread only (the callbacks and the loop run there).
  std::unordered_set<Conn*> conns;
  std::vector<std::weak_ptr<Stream>> streams;

  ~Impl() {
    if (daemon != nullptr) MHD_stop_daemon(daemon);
    if (daemon == nullptr && listen_fd >= 0) ::close(listen_fd);
    if (wake >= 0) ::close(wake);
  }

  void start();
  void loop();
  void expire(Clock::time_point now);
  int poll_timeout(Clock::time_point now) const;
  void end_streams();

  MHD_Result answer(MHD_Connection* c, const char* url, const char* method, void** request);
  void queue(MHD_Connection* c, Conn* conn, const Response& r);
  [[nodiscard]] bool authorized(MHD_Connection* c) const;

  // libmicrohttpd's callbacks; cls is the Impl.
  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                               const char* version, const char* upload_data,
                               std::size_t* upload_data_size, void** request);
  static void on_connection(void* cls, MHD_Connection* c, void** socket_context,
                            MHD_ConnectionNotificationCode code);
  static void on_completed(void* cls, MHD_Connection* c, void** request,
                           MHD_RequestTerminationCode why);
  static void on_log(void* cls, const char* fmt, va_list ap);

  static Conn* conn_of(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == nullptr ? nullptr : static_cast<Conn*>(info->socket_context);
  }
};

MHD_Result Server::Impl::on_request(void* cls, MHD_Connection* c, const char* url,
                                    const char* method, const char* /*version*/,
                                    const char* /*upload_data*/, std::size_t* upload_data_size,
                                    void** request) {
  auto* impl = static_cast<Impl*>(cls);
  if (*request == nullptr) {
    // First call: the header is in. Answering only once the whole request is read lets
    // libmicrohttpd keep the connection open for the next (pipelined) request.
    *request = impl;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;  // no route takes a body: read and discarded (the deadline bounds it)
    return MHD_YES;
  }
  return impl->answer(c, url, method, request);
}

void Server::Impl::on_connection(void* cls, MHD_Connection* c, void** socket_context,
                                 MHD_ConnectionNotificationCode code) {
  auto* impl = static_cast<Impl*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    auto* conn = new Conn{c, info == nullptr ? -1 : info->connect_fd,
                          Clock::now() + impl->opt.request_timeout};
    impl->conns.insert(conn);
    *socket_context = conn;
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    // Called on the loop's thread before libmicrohttpd closes the socket: expire() never shuts
    // down a descriptor that has been closed and reused.
    auto* conn = static_cast<Conn*>(*socket_context);
    impl->conns.erase(conn);
    delete conn;
    *socket_context = nullptr;
  }
}

void Server::Impl::on_completed(void* cls, MHD_Connection* c, void** /*request*/,
                                MHD_RequestTerminationCode /*why*/) {
  auto* impl = static_cast<Impl*>(cls);
  if (Conn* conn = conn_of(c)) {
    conn->deadline = Clock::now() + impl->opt.request_timeout;  // the next request's clock
    conn->answered = false;
    conn->streaming = false;
  }
}

void Server::Impl::on_log(void* cls, const char* fmt, va_list ap) {
  auto* impl = static_cast<Impl*>(cls);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line = buf;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (impl->opt.log) impl->opt.log(line);
}

namespace {

MHD_Result collect_arg(void* cls, MHD_ValueKind /*kind*/, const char* key, const char* value) {
  static_cast<Request*>(cls)->query.emplace_back(key, value == nullptr ? "" : value);
  return MHD_YES;
}

MHD_Result collect_header(void* cls, MHD_ValueKind /*kind*/, const char* key, const char* value) {
  static_cast<Request*>(cls)->headers.emplace_back(key, value == nullptr ? "" : value);
  return MHD_YES;
}

ssize_t read_stream(void* cls, std::uint64_t /*pos*/, char* buf, std::size_t max) {
  return StreamAccess::read(**static_cast<std::shared_ptr<Stream>*>(cls), buf, max);
}

void free_stream(void* cls) {
  auto* s = static_cast<std::shared_ptr<Stream>*>(cls);
  StreamAccess::detach(**s);
  delete s;
}

}  // namespace

bool Server::Impl::authorized(MHD_Connection* c) const {
  if (expected_auth.empty()) return true;
  const char* h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (h == nullptr || ::strncasecmp(h, "Basic ", 6) != 0) return false;
  std::string_view token(h + 6);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  // Comparing the encoded credentials needs no decoding; constant time in their content.
  return token.size() == expected_auth.size() &&
         CRYPTO_memcmp(token.data(), expected_auth.data(), token.size()) == 0;
}

MHD_Result Server::Impl::answer(MHD_Connection* c, const char* url, const char* method,
                                void** /*request*/) {
  Conn* conn = conn_of(c);
  Response r;
  if (!authorized(c)) {
    r = Response::text(401, "authentication required\n");
    r.headers.emplace_back(MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                           "Basic realm=\"kamstrup\", charset=\"UTF-8\"");
  } else {
    Request req;
    req.method = method;
    req.path = url;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req);
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &req);
    r = routes.dispatch(req);
  }
  queue(c, conn, r);
  return MHD_YES;
}

void Server::Impl::queue(MHD_Connection* c, Conn* conn, const Response& r) {
  MHD_Response* res = nullptr;
  if (r.stream) {
    StreamAccess::attach(*r.stream, c, wake);
    res = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream,
                                            new std::shared_ptr<Stream>(r.stream), free_stream);
    streams.push_back(r.stream);
    std::erase_if(streams, [](const auto& w) { return w.expired(); });
    if (conn != nullptr) conn->streaming = true;
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);  // lives while it sends
  } else {
    res = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                          MHD_RESPMEM_MUST_COPY);
  }
  if (res == nullptr) return;  // out of memory: libmicrohttpd closes the connection
  MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  for (const auto& [k, v] : r.headers) MHD_add_response_header(res, k.c_str(), v.c_str());
  MHD_queue_response(c, static_cast<unsigned>(r.status), res);
  MHD_destroy_response(res);  // the connection holds its own reference
  if (conn != nullptr) conn->answered = true;
}

// Every request's absolute deadline: a socket past it is shut down (after a 408 when nothing has
// been answered yet); libmicrohttpd sees the hang-up on its next run and frees the connection.
void Server::Impl::expire(Clock::time_point now) {
  static constexpr std::string_view k408 =
      "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
      "Content-Length: 16\r\n\r\nrequest timeout\n";
  for (Conn* conn : conns) {
    if (conn->streaming || conn->expired || now < conn->deadline || conn->fd < 0) continue;
    conn->expired = true;
    const bool nothing_sent =
        !conn->answered &&
        MHD_get_connection_info(conn->connection, MHD_CONNECTION_INFO_HTTP_STATUS) == nullptr;
    if (nothing_sent) (void)::send(conn->fd, k408.data(), k408.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(conn->fd, SHUT_RDWR);
  }
}

int Server::Impl::poll_timeout(Clock::time_point now) const {
  long long ms = -1;
  MHD_UNSIGNED_LONG_LONG mhd = 0;
  if (MHD_get_timeout(daemon, &mhd) == MHD_YES)
    ms = static_cast<long long>(std::min<MHD_UNSIGNED_LONG_LONG>(mhd, 60000));
  for (const Conn* conn : conns) {
    if (conn->streaming || conn->expired) continue;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(conn->deadline - now).count();
    left = std::max<long long>(left, 0);
    if (ms < 0 || left < ms) ms = left;
  }
  return static_cast<int>(ms);
}

void Server::Impl::loop() {
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
  const int epoll_fd = info == nullptr ? -1 : info->epoll_fd;
  while (!stopping.load()) {
    pollfd p[2] = {{epoll_fd, POLLIN, 0}, {wake, POLLIN, 0}};
    if (::poll(p, 2, poll_timeout(Clock::now())) < 0 && errno != EINTR) break;
    if (stopping.load()) break;
    std::uint64_t n = 0;
    // A stream resumed; a failed read (EAGAIN after a racing one) leaves nothing to do.
    if ((p[1].revents & POLLIN) != 0 && ::read(wake, &n, sizeof n) < 0) n = 0;
    const std::size_t before = conns.size();
    MHD_run(daemon);
    // At the connection limit libmicrohttpd stops polling the listening socket and takes it
    // back only at the start of a run: run again when a connection closed, or a waiting client
    // would wait for unrelated activity.
    if (conns.size() < before) MHD_run(daemon);
    expire(Clock::now());
  }
}

void Server::Impl::end_streams() {
  for (auto& w : streams)
    if (auto s = w.lock()) StreamAccess::end(*s);
  streams.clear();
}

void Server::Impl::start() {
  const std::string where = opt.host + ":" + std::to_string(opt.port);
  if (!opt.auth_user.empty()) {
    if (opt.auth_user.find(':') != std::string::npos)
      throw std::invalid_argument("Basic auth: the user name cannot contain ':'");
    if (opt.auth_password.empty()) throw std::invalid_argument("Basic auth: empty password");
  }
  listen_fd = listen_on(opt.host, opt.port, where);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound_loopback = is_loopback(addr);
    bound_port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(addr).sin6_port
                                                  : reinterpret_cast<sockaddr_in&>(addr).sin_port);
  }
  if (!opt.auth_user.empty()) expected_auth = base64(opt.auth_user + ":" + opt.auth_password);
  wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) throw std::runtime_error("cannot listen on " + where + " (eventfd)");

  // Timeouts are ours (expire()); libmicrohttpd's idle timeout is only a backstop.
  const auto idle_s = static_cast<unsigned>(
      std::chrono::ceil<std::chrono::seconds>(opt.request_timeout).count() + 1);
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
  if (opt.log) flags |= MHD_USE_ERROR_LOG;
  daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, on_request, this, MHD_OPTION_EXTERNAL_LOGGER, on_log, this,
      MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_LIMIT, opt.max_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      static_cast<std::size_t>(16 * 1024), kStrict, 1, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
      this, MHD_OPTION_NOTIFY_COMPLETED, on_completed, this, MHD_OPTION_END);
  if (daemon == nullptr) throw std::runtime_error("cannot listen on " + where + " (libmicrohttpd)");
  thread = std::thread([this] { loop(); });
}

Server::Server(ServerOptions options, Routes routes) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->routes = std::move(routes);
  impl_->start();
}

Server::~Server() {
  stop();
}

void Server::stop() {
  if (!impl_ || impl_->daemon == nullptr) return;
  impl_->stopping = true;
  std::uint64_t one = 1;
  while (::write(impl_->wake, &one, sizeof one) < 0 && errno == EINTR) {
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  // From here on this thread is libmicrohttpd's only caller. No connection may stay suspended
  // when the daemon stops.
  impl_->end_streams();
  MHD_run(impl_->daemon);          // lets the resumed streams finish
  MHD_stop_daemon(impl_->daemon);  // closes the listening socket and every connection
  impl_->daemon = nullptr;
  impl_->listen_fd = -1;
}

std::uint16_t Server::port() const {
  return impl_->bound_port;
}

bool Server::loopback() const {
  return impl_->bound_loopback;
}

}  // namespace kamstrup::web
