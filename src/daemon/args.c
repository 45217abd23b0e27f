/* Command-line flags. One small parser serves every subcommand: each
 * says which flags it takes, and anything else is a usage error that
 * names the offending word. Flags take "--flag value" or "--flag=value";
 * "--section.key=value" sets one config key for this run. */
#include <stdio.h>
#include <string.h>
#include "daemon/daemon_private.h"

/* Prints "stratosd: <what> <word><tail>" and gives the usage exit code. */
static int usage_err3(const char *what, const char *word, const char *tail) {
  fprintf(stderr, "stratosd: %s %s%s (see stratosd help)\n", what, word, tail);
  return ST_EXIT_USAGE;
}

static int usage_err(const char *what, const char *word) {
  return usage_err3(what, word, "");
}

int st_daemon__parse_args(int argc, char **argv, int first, unsigned accepted,
                          size_t maxpos, st_args_t *a) {
  static const struct {
    const char *name;
    unsigned bit;
    int has_value;
  } flags[] = {
    {"home", ST_FLAG_HOME, 1},       {"config", ST_FLAG_CONFIG, 1},
    {"moniker", ST_FLAG_MONIKER, 1}, {"role", ST_FLAG_ROLE, 1},
    {"reset", ST_FLAG_RESET, 0},
  };
  memset(a, 0, sizeof(*a));
  for (int i = first; i < argc; i++) {
    const char *w = argv[i];
    if (strncmp(w, "--", 2) != 0 || w[2] == '\0') {
      if (w[0] == '-' && w[1] != '\0')
        return usage_err("unknown flag", w);
      if (a->npositional >= maxpos ||
          a->npositional >= sizeof(a->positional) / sizeof(a->positional[0]))
        return usage_err("unexpected argument", w);
      a->positional[a->npositional++] = w;
      continue;
    }
    const char *name = w + 2;
    const char *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    const char *dot = memchr(name, '.', nl);
    if (dot) {
      if (!(accepted & ST_FLAG_OVERRIDE))
        return usage_err("unknown flag", w);
      if (!eq)
        return usage_err3("flag", w, " needs =value");
      if (a->noverrides == ST_MAX_OVERRIDES)
        return usage_err("too many overrides at", w);
      size_t sl = (size_t)(dot - name), kl = nl - sl - 1;
      if (sl == 0 || kl == 0 || sl + kl + 2 > sizeof(a->ov_store[0]))
        return usage_err("bad override", w);
      char *st = a->ov_store[a->noverrides];
      memcpy(st, name, sl);
      st[sl] = '\0';
      memcpy(st + sl + 1, dot + 1, kl);
      st[sl + 1 + kl] = '\0';
      a->ov_section[a->noverrides] = st;
      a->ov_key[a->noverrides] = st + sl + 1;
      a->ov_value[a->noverrides] = eq + 1;
      a->noverrides++;
      continue;
    }
    size_t f;
    size_t nflags = sizeof(flags) / sizeof(flags[0]);
    for (f = 0; f < nflags; f++)
      if (strlen(flags[f].name) == nl && memcmp(flags[f].name, name, nl) == 0)
        break;
    if (f == nflags || !(accepted & flags[f].bit))
      return usage_err("unknown flag", w);
    const char *val = NULL;
    if (flags[f].has_value) {
      if (eq) {
        val = eq + 1;
      } else if (i + 1 < argc) {
        val = argv[++i];
      } else {
        return usage_err3("flag", w, " needs a value");
      }
      if (*val == '\0')
        return usage_err3("flag", w, " needs a non-empty value");
    } else if (eq) {
      return usage_err3("flag", w, " takes no value");
    }
    switch (flags[f].bit) {
    case ST_FLAG_HOME: a->home = val; break;
    case ST_FLAG_CONFIG: a->config = val; break;
    case ST_FLAG_MONIKER: a->moniker = val; break;
    case ST_FLAG_ROLE: a->role = val; break;
    case ST_FLAG_RESET: a->reset = true; break;
    default: break;
    }
  }
  return ST_EXIT_OK;
}
