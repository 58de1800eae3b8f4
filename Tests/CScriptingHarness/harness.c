/*
 * harness.c - runs Lua snippets against our cmsgpack and struct libraries.
 *
 *   harness PRELUDE CORPUS
 *
 * Opens one Lua 5.1 state with the libraries a Redis script sees that the
 * snippets use (base, table, string, math, cmsgpack, struct), then for each
 * snippet line of CORPUS (blank lines and lines starting with '#' skipped)
 * runs  <prelude joined into one line> return __run(function() <snippet>
 * end)  as chunk "@user_script", and prints the string it returns, one line
 * per snippet. compare.py sends the same text to redis-server's EVAL.
 * A snippet that fails outside __run's pcall prints "ERR <message>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "cscripting_libs.h"

typedef struct {
    char *data;
    size_t len, cap;
} Text;

static void text_add(Text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
        if (t->data == NULL) { perror("realloc"); exit(2); }
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_adds(Text *t, const char *s) { text_add(t, s, strlen(s)); }

static void chomp(char *line, ssize_t *n) {
    while (*n > 0 && (line[*n - 1] == '\n' || line[*n - 1] == '\r')) line[--*n] = '\0';
}

/* The prelude's non-comment lines joined with spaces. */
static void read_prelude(const char *path, Text *out) {
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (f == NULL) { perror(path); exit(2); }
    while ((n = getline(&line, &cap, f)) >= 0) {
        chomp(line, &n);
        if (n == 0 || strncmp(line, "--", 2) == 0) continue;
        text_add(out, line, (size_t)n);
        text_adds(out, " ");
    }
    free(line);
    fclose(f);
}

/* Like Redis's luaLoadLib: call the opener with the library's name. */
static void load_lib(lua_State *L, const char *name, lua_CFunction open) {
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

/* Error messages may hold any byte: print them escaped, as __esc does. */
static void print_escaped(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 32 || c == 127 || c >= 128 || c == '\\') printf("\\x%02x", c);
        else putchar(c);
    }
}

int main(int argc, char **argv) {
    Text prelude = {0}, script = {0};
    FILE *corpus;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    lua_State *L;

    if (argc != 3) {
        fprintf(stderr, "usage: %s PRELUDE CORPUS\n", argv[0]);
        return 2;
    }
    read_prelude(argv[1], &prelude);
    corpus = strcmp(argv[2], "-") == 0 ? stdin : fopen(argv[2], "r");
    if (corpus == NULL) { perror(argv[2]); return 2; }

    L = luaL_newstate();
    load_lib(L, "", luaopen_base);
    load_lib(L, LUA_TABLIBNAME, luaopen_table);
    load_lib(L, LUA_STRLIBNAME, luaopen_string);
    load_lib(L, LUA_MATHLIBNAME, luaopen_math);
    load_lib(L, "struct", luaopen_struct);
    load_lib(L, "cmsgpack", luaopen_cmsgpack);

    while ((n = getline(&line, &cap, corpus)) >= 0) {
        size_t len;
        const char *result;
        chomp(line, &n);
        if (n == 0 || line[0] == '#') continue;
        script.len = 0;
        text_add(&script, prelude.data, prelude.len);
        text_adds(&script, "return __run(function() ");
        text_add(&script, line, (size_t)n);
        text_adds(&script, "\nend)");
        if (luaL_loadbuffer(L, script.data, script.len, "@user_script") != 0
            || lua_pcall(L, 0, 1, 0) != 0) {
            result = lua_tolstring(L, -1, &len);
            printf("ERR ");
            if (result != NULL) print_escaped(result, len);
            else printf("(error object is not a string)");
            putchar('\n');
        } else if ((result = lua_tolstring(L, -1, &len)) != NULL) {
            fwrite(result, 1, len, stdout);
            putchar('\n');
        } else {
            printf("ERR (script returned no string)\n");
        }
        lua_settop(L, 0);
        fflush(stdout);
    }
    free(line);
    free(prelude.data);
    free(script.data);
    lua_close(L);
    return 0;
}
