// Test helper: runs a program under a seccomp filter built the way systemd builds the unit's
// SystemCallFilter= and RestrictAddressFamilies= (the systemd service manager itself cannot run
// on the test machines). Stricter than the unit in one way: a system call outside the set kills
// the process (SIGSYS) instead of failing with EPERM, so a test cannot pass on a degraded daemon.
//
// Usage: sandbox_exec SYSCALL_LIST FAMILIES -- PROGRAM [ARGS...]
//   SYSCALL_LIST  a file with the allowed system call names, one per line
//   FAMILIES      the address families socket() may create, comma-separated numbers
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 5 || std::strcmp(argv[3], "--") != 0) {
    std::fprintf(stderr, "usage: sandbox_exec SYSCALL_LIST FAMILIES -- PROGRAM [ARGS...]\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) return 2;
  std::ifstream list(argv[1]);
  std::string name;
  int allowed = 0;
  while (std::getline(list, name)) {
    if (name.empty() || name == "socket") continue;
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a system call on this architecture
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) {
      std::fprintf(stderr, "sandbox_exec: cannot allow %s\n", name.c_str());
      return 2;
    }
    ++allowed;
  }
  std::stringstream families(argv[2]);
  std::string family;
  while (std::getline(families, family, ',')) {
    const auto af = static_cast<scmp_datum_t>(std::stoul(family));
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, af)) != 0)
      return 2;
  }
  if (allowed < 100 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_load(ctx) != 0) {
    std::fprintf(stderr, "sandbox_exec: cannot load the filter (%d system calls)\n", allowed);
    return 2;
  }
  seccomp_release(ctx);
  execv(argv[4], argv + 4);
  std::perror("sandbox_exec: execv");
  return 127;
}
