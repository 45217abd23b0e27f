/* The node's home directory:
 *   config/stratosd.conf   configuration (written from the documented default)
 *   config/node_key.json   node key (P2P identity, votes, receipts), 0600
 *   keyring/NAME.json      wallet keys, 0600
 *   data/                  the LMDB environment
 *   stratosd.lock          flock held by the running node, with its pid
 * The `init` and `keys` subcommands live here as well. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stratos/st_err.h>
#include "daemon/daemon_private.h"
#include "default_conf.h"

int st_daemon__path(char *out, size_t cap, const char *home, const char *rel) {
  int n = snprintf(out, cap, "%s/%s", home, rel);
  return n < 0 || (size_t)n >= cap ? ST_E2BIG : 0;
}

int st_daemon__home_path(const char *flag, bool dev, char *out, size_t outcap) {
  int n;
  if (flag) {
    n = snprintf(out, outcap, "%s", flag);
  } else {
    const char *h = getenv("HOME");
    if (!h || !*h)
      return ST_ENOENT;
    n = snprintf(out, outcap, "%s/%s", h, dev ? ".stratos-dev" : ".stratos");
  }
  if (n < 0 || (size_t)n >= outcap)
    return ST_E2BIG;
  /* Trailing slashes are noise in messages. */
  while (n > 1 && out[n - 1] == '/')
    out[--n] = '\0';
  return 0;
}

static int mkdir_p(const char *path, mode_t mode) {
  char tmp[ST_PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof(tmp))
    return ST_E2BIG;
  memcpy(tmp, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (tmp[i] != '/' && tmp[i] != '\0')
      continue;
    char c = tmp[i];
    tmp[i] = '\0';
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
      return st_err_from_errno(errno);
    tmp[i] = c;
  }
  return 0;
}

bool st_daemon__home_initialized(const char *home) {
  char p[ST_PATH_MAX];
  if (st_daemon__path(p, sizeof(p), home, "config/node_key.json") != 0)
    return false;
  return access(p, F_OK) == 0;
}

static int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode) {
  char tmp[ST_PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
    return ST_E2BIG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return st_err_from_errno(errno);
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      close(fd);
      unlink(tmp);
      return st_err_from_errno(e);
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return ST_EIO;
  }
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return st_err_from_errno(errno);
  }
  return 0;
}

int st_daemon__home_init(const char *home, const char *moniker, bool verbose) {
  char p[ST_PATH_MAX];
  int rc;
  if (st_daemon__home_initialized(home))
    return ST_EEXIST;
  if ((rc = mkdir_p(home, 0700)) != 0)
    return rc;
  static const char *const dirs[] = {"config", "keyring", "data"};
  for (size_t i = 0; i < 3; i++) {
    if ((rc = st_daemon__path(p, sizeof(p), home, dirs[i])) != 0 ||
        (rc = mkdir_p(p, 0700)) != 0)
      return rc;
  }
  /* The config file is the documented default, with the moniker filled in. */
  if ((rc = st_daemon__path(p, sizeof(p), home, "config/stratosd.conf")) != 0)
    return rc;
  if (access(p, F_OK) != 0) {
    const char *conf = st_default_conf;
    const char *key = "\nmoniker =";
    const char *at = strstr(conf, key);
    char name[ST_MONIKER_MAX];
    if (moniker) {
      if (strlen(moniker) >= sizeof(name) || strpbrk(moniker, "\n\r;#"))
        return ST_EINVAL;
      snprintf(name, sizeof(name), "%s", moniker);
    } else {
      const char *base = strrchr(home, '/');
      snprintf(name, sizeof(name), "%s", base ? base + 1 : home);
    }
    size_t total = strlen(conf) + strlen(name) + 2;
    char *out = malloc(total);
    if (!out)
      return ST_ENOMEM;
    if (at) {
      size_t head = (size_t)(at - conf) + strlen(key);
      snprintf(out, total, "%.*s %s%s", (int)head, conf, name, conf + head);
    } else {
      snprintf(out, total, "%s", conf);
    }
    rc = write_file_atomic(p, out, strlen(out), 0644);
    free(out);
    if (rc != 0)
      return rc;
  }
  st_keypair_t kp;
  if ((rc = st_key_generate(&kp)) != 0)
    return rc;
  if ((rc = st_daemon__path(p, sizeof(p), home, "config/node_key.json")) != 0)
    return rc;
  rc = st_keyfile_write(p, &kp, ST_HRP_NODE);
  if (rc == 0 && verbose) {
    uint8_t addr[ST_ADDR_LEN];
    char id[ST_ADDR_STR_MAX];
    st_addr_from_pubkey(kp.pk, addr);
    st_addr_encode(ST_HRP_NODE, addr, id, sizeof(id));
    printf("initialized home %s\nnode id: %s\n", home, id);
  }
  st_key_wipe(&kp);
  return rc;
}

int st_daemon__home_lock(const char *home, int *fdp, long *pid) {
  char p[ST_PATH_MAX];
  int rc = st_daemon__path(p, sizeof(p), home, "stratosd.lock");
  if (rc != 0)
    return rc;
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return st_err_from_errno(errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    *pid = n > 0 ? strtol(buf, NULL, 10) : 0;
    close(fd);
    return e == EWOULDBLOCK ? ST_ELOCKED : st_err_from_errno(e);
  }
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
    close(fd);
    return ST_EIO;
  }
  *fdp = fd;
  return 0;
}

static int rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : st_err_from_errno(errno);
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (!d)
      return st_err_from_errno(errno);
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char sub[ST_PATH_MAX];
      rc = st_daemon__path(sub, sizeof(sub), path, e->d_name);
      if (rc == 0)
        rc = rm_rf(sub);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0)
      rc = st_err_from_errno(errno);
    return rc;
  }
  return unlink(path) == 0 ? 0 : st_err_from_errno(errno);
}

int st_daemon__home_wipe(const char *home) {
  static const char *const parts[] = {"config", "keyring", "data"};
  for (size_t i = 0; i < 3; i++) {
    char p[ST_PATH_MAX];
    int rc = st_daemon__path(p, sizeof(p), home, parts[i]);
    if (rc == 0)
      rc = rm_rf(p);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- init ---- */

int st_daemon__cmd_init(int argc, char **argv) {
  st_args_t a;
  int rc = st_daemon__parse_args(argc, argv, 2, ST_FLAG_HOME | ST_FLAG_MONIKER, 0, &a);
  if (rc != 0)
    return rc;
  char home[ST_PATH_MAX];
  if (st_daemon__home_path(a.home, false, home, sizeof(home)) != 0) {
    fprintf(stderr, "stratosd: no --home given and $HOME is not set\n");
    return ST_EXIT_USAGE;
  }
  rc = st_daemon__home_init(home, a.moniker, true);
  if (rc == ST_EEXIST) {
    fprintf(stderr, "stratosd: home %s is already initialized\n", home);
    return ST_EXIT_FAIL;
  }
  if (rc == ST_EINVAL) {
    fprintf(stderr, "stratosd: bad --moniker (at most %d bytes, no newline, ';' or '#')\n",
            ST_MONIKER_MAX - 1);
    return ST_EXIT_USAGE;
  }
  if (rc != 0) {
    fprintf(stderr, "stratosd: cannot initialize home %s: %s\n", home, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  return ST_EXIT_OK;
}

/* ---- keys ---- */

static bool valid_key_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

static int key_path(char *out, size_t cap, const char *home, const char *name) {
  int n = snprintf(out, cap, "%s/keyring/%s.json", home, name);
  return n < 0 || (size_t)n >= cap ? ST_E2BIG : 0;
}

static int key_address(const char *path, char *addr_str, size_t cap) {
  st_keypair_t kp;
  int rc = st_keyfile_read(path, &kp);
  if (rc != 0)
    return rc;
  uint8_t addr[ST_ADDR_LEN];
  st_addr_from_pubkey(kp.pk, addr);
  st_key_wipe(&kp);
  return st_addr_encode(ST_HRP_WALLET, addr, addr_str, cap);
}

int st_daemon__key_add(const char *home, const char *name, bool verbose) {
  char p[ST_PATH_MAX];
  int rc = st_daemon__path(p, sizeof(p), home, "keyring");
  if (rc != 0 || (rc = mkdir_p(p, 0700)) != 0)
    return rc;
  if ((rc = key_path(p, sizeof(p), home, name)) != 0)
    return rc;
  st_keypair_t kp;
  if ((rc = st_key_generate(&kp)) != 0)
    return rc;
  rc = st_keyfile_write(p, &kp, ST_HRP_WALLET);
  st_key_wipe(&kp);
  if (rc == 0 && verbose) {
    char addr[ST_ADDR_STR_MAX];
    if (key_address(p, addr, sizeof(addr)) == 0)
      printf("name: %s\naddress: %s\n", name, addr);
  }
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int keys_list(const char *home) {
  char dir[ST_PATH_MAX];
  if (st_daemon__path(dir, sizeof(dir), home, "keyring") != 0)
    return ST_EXIT_FAIL;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT)
      return ST_EXIT_OK; /* no keys yet */
    fprintf(stderr, "stratosd: cannot read %s: %s\n", dir, strerror(errno));
    return ST_EXIT_FAIL;
  }
  char *names[1024];
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 1024;) {
    size_t l = strlen(e->d_name);
    if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
      names[n] = strndup(e->d_name, l - 5);
      if (names[n])
        n++;
    }
  }
  closedir(d);
  qsort(names, n, sizeof(names[0]), cmp_str);
  int status = ST_EXIT_OK;
  for (size_t i = 0; i < n; i++) {
    char p[ST_PATH_MAX], addr[ST_ADDR_STR_MAX];
    int rc = key_path(p, sizeof(p), home, names[i]);
    if (rc == 0)
      rc = key_address(p, addr, sizeof(addr));
    if (rc == 0) {
      printf("%s %s\n", names[i], addr);
    } else {
      fprintf(stderr, "stratosd: key %s: %s\n", names[i], st_strerror(rc));
      status = ST_EXIT_FAIL;
    }
    free(names[i]);
  }
  return status;
}

int st_daemon__cmd_keys(int argc, char **argv) {
  st_args_t a;
  int rc = st_daemon__parse_args(argc, argv, 2, ST_FLAG_HOME, 2, &a);
  if (rc != 0)
    return rc;
  if (a.npositional == 0) {
    fprintf(stderr, "stratosd: keys needs add NAME, list or show NAME\n");
    return ST_EXIT_USAGE;
  }
  char home[ST_PATH_MAX];
  if (st_daemon__home_path(a.home, false, home, sizeof(home)) != 0) {
    fprintf(stderr, "stratosd: no --home given and $HOME is not set\n");
    return ST_EXIT_USAGE;
  }
  const char *verb = a.positional[0];
  if (strcmp(verb, "list") == 0) {
    if (a.npositional != 1) {
      fprintf(stderr, "stratosd: keys list takes no name\n");
      return ST_EXIT_USAGE;
    }
    return keys_list(home);
  }
  if (strcmp(verb, "add") != 0 && strcmp(verb, "show") != 0) {
    fprintf(stderr, "stratosd: unknown keys command %s (add, list or show)\n", verb);
    return ST_EXIT_USAGE;
  }
  if (a.npositional != 2) {
    fprintf(stderr, "stratosd: keys %s needs a NAME\n", verb);
    return ST_EXIT_USAGE;
  }
  const char *name = a.positional[1];
  if (!valid_key_name(name)) {
    fprintf(stderr, "stratosd: bad key name \"%s\" (1 to 64 of A-Z a-z 0-9 _ -)\n", name);
    return ST_EXIT_USAGE;
  }
  if (verb[0] == 'a') {
    rc = st_daemon__key_add(home, name, true);
    if (rc == ST_EEXIST) {
      fprintf(stderr, "stratosd: key %s already exists\n", name);
      return ST_EXIT_FAIL;
    }
    if (rc != 0) {
      fprintf(stderr, "stratosd: cannot add key %s: %s\n", name, st_strerror(rc));
      return ST_EXIT_FAIL;
    }
    return ST_EXIT_OK;
  }
  char p[ST_PATH_MAX], addr[ST_ADDR_STR_MAX];
  rc = key_path(p, sizeof(p), home, name);
  if (rc == 0)
    rc = key_address(p, addr, sizeof(addr));
  if (rc == ST_ENOENT) {
    fprintf(stderr, "stratosd: no key named %s in %s/keyring\n", name, home);
    return ST_EXIT_FAIL;
  }
  if (rc != 0) {
    fprintf(stderr, "stratosd: key %s: %s\n", name, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  printf("name: %s\naddress: %s\n", name, addr);
  return ST_EXIT_OK;
}
