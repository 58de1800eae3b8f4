/*
 * lua_struct.c - the "struct" library of Needletail's Lua scripts.
 *
 * Packs Lua values into binary strings and back, written to behave exactly
 * like the struct library Redis 7.0 gives EVAL scripts (Roberto
 * Ierusalimschy's struct 0.2, struct.c 1.4, with Redis's security fixes),
 * on a 64-bit little-endian machine as Redis is built there:
 *
 *   struct.pack(fmt, ...)          the values packed by fmt
 *   struct.unpack(fmt, s [, pos])  the values read from s at pos (1-based),
 *                                  then the position after the last byte read
 *   struct.size(fmt)               the size of what fmt packs
 *
 * Format options:
 *   >  <     big / little endian (the default is the machine's)
 *   ![n]     align to n (a power of 2; default the alignment of a double)
 *   x        one padding byte
 *   b B      signed / unsigned char        h H   short
 *   l L      long                          T     size_t
 *   i[n] I[n] integer of n bytes (default sizeof(int), at most 32)
 *   f d      float / double
 *   c[n]     n bytes (default 1); pack: c0 is the whole string;
 *            unpack: c0 takes the length from the value read just before
 *   s        zero-terminated string
 *   ' '      ignored
 * Any other character is "invalid format option" (struct.size lets letters
 * and digits through as zero-size options, as the original does).
 *
 * Redis's fixes kept here: counts in formats are checked for int overflow,
 * integer sizes are limited to 32, every read is bounds-checked without
 * wrapping, unpack's position must be >= 1, c0 needs a previous value, and
 * unpack checks the stack for each result.
 *
 * Where the original relies on what x86-64 does with out-of-range
 * conversions and shifts (numbers too big for a long, 'i' sizes other than
 * 1..8), those results are spelled out here, so that any compiler gives the
 * same bytes as Redis.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "cscripting_libs.h"

#define STRUCT_MAX_INT_SIZE 32

typedef struct {
    int little;  /* byte order of integers and floats */
    int align;   /* largest alignment applied (1 = packed) */
} Layout;

struct double_after_char { char c; double d; };
#define DOUBLE_ALIGN offsetof(struct double_after_char, d)
#define DEFAULT_MAX_ALIGN \
    ((int)(DOUBLE_ALIGN > sizeof(int) ? DOUBLE_ALIGN : sizeof(int)))

static int machine_is_little(void) {
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

static void layout_init(Layout *h) {
    h->little = machine_is_little();
    h->align = 1;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_alnum(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ------------------------------------------------------------------------ */
/* Double to integer conversions, as x86-64 does them in the original.      */

/* (int64_t)d, with NaN and out-of-range values giving INT64_MIN (cvttsd2si). */
static int64_t to_int64(double d) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return (int64_t)d;
    return INT64_MIN;
}

/* (uint64_t)d as GCC compiles it on x86-64: negative values wrap, NaN gives
 * 2^63, and values from 2^64 up give 0. */
static uint64_t to_uint64(double d) {
    const double two63 = 9223372036854775808.0;
    if (d >= two63)
        return (uint64_t)to_int64(d - two63) ^ ((uint64_t)1 << 63);
    return (uint64_t)to_int64(d);
}

/* ------------------------------------------------------------------------ */
/* Reading the format.                                                       */

/* A decimal count at *fmt (advancing past it), or `dflt` if there is none. */
static int read_count(lua_State *L, const char **fmt, int dflt) {
    int n = 0;
    if (!is_digit(**fmt)) return dflt;
    while (is_digit(**fmt)) {
        int digit = **fmt - '0';
        if (n > INT_MAX / 10 || n * 10 > INT_MAX - digit)
            luaL_error(L, "integral size overflow");
        n = n * 10 + digit;
        (*fmt)++;
    }
    return n;
}

/* Bytes taken by option `opt` (reading its count, if it has one); 0 for
 * options that take no room of their own. */
static size_t option_size(lua_State *L, int opt, const char **fmt) {
    switch (opt) {
    case 'b': case 'B': case 'x': return 1;
    case 'h': case 'H': return sizeof(short);
    case 'l': case 'L': return sizeof(long);
    case 'T': return sizeof(size_t);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'c': return (size_t)read_count(L, fmt, 1);
    case 'i': case 'I': {
        int n = read_count(L, fmt, (int)sizeof(int));
        if (n > STRUCT_MAX_INT_SIZE)
            luaL_error(L, "integral size %d is larger than limit of %d",
                       n, STRUCT_MAX_INT_SIZE);
        return (size_t)n;
    }
    default: return 0;
    }
}

/* Padding before an item of `size` bytes at offset `pos`. Sizes that are
 * not powers of 2 give the original's odd (but harmless) results. */
static int padding_before(size_t pos, const Layout *h, int opt, size_t size) {
    if (size == 0 || opt == 'c') return 0;
    if (size > (size_t)h->align) size = (size_t)h->align;
    return (int)((size - (pos & (size - 1))) & (size - 1));
}

/* Options that set the layout; anything else reaching here is invalid. */
static void apply_control(lua_State *L, int opt, const char **fmt, Layout *h) {
    switch (opt) {
    case ' ': return;
    case '>': h->little = 0; return;
    case '<': h->little = 1; return;
    case '!': {
        int a = read_count(L, fmt, DEFAULT_MAX_ALIGN);
        if (a <= 0 || (a & (a - 1)) != 0)
            luaL_error(L, "alignment %d is not a power of 2", a);
        h->align = a;
        return;
    }
    default:
        luaL_argerror(L, 1,
            lua_pushfstring(L, "invalid format option '%c'", opt));
    }
}

static int is_integer_option(int opt) {
    return opt != '\0' && strchr("bBhHlLTiI", opt) != NULL;
}

/* ------------------------------------------------------------------------ */
/* Bytes of integers and floats.                                             */

/* Writes `size` bytes of v (zeros beyond the 8 of a long) in order. */
static void put_integer(luaL_Buffer *b, uint64_t v, int little, size_t size) {
    char bytes[STRUCT_MAX_INT_SIZE];
    size_t i;
    for (i = 0; i < size; i++) {
        bytes[little ? i : size - 1 - i] = (char)(v & 0xff);
        v >>= 8;
    }
    luaL_addlstring(b, bytes, size);
}

/* Reads `size` bytes; only the 8 least significant ones survive. */
static lua_Number get_integer(const char *p, int little, int is_signed, size_t size) {
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < size; i++)
        v = (v << 8) | (unsigned char)p[little ? size - 1 - i : i];
    if (!is_signed) return (lua_Number)v;
    {
        /* Sign-extend from bit 8*size-1; the shift count is taken mod 64
         * as x86 does, which is what sizes 0 and 9..32 get in Redis. */
        uint64_t mask = ~(uint64_t)0 << ((size * 8 - 1) & 63);
        if (v & mask) v |= mask;
        return (lua_Number)(v > INT64_MAX ? -(int64_t)(~v) - 1 : (int64_t)v);
    }
}

/* Copies `size` bytes, reversing them if the wanted order isn't the machine's. */
static void copy_ordered(void *dst, const void *src, size_t size, int little) {
    const unsigned char *s = src;
    unsigned char *d = dst;
    size_t i;
    if (little == machine_is_little()) {
        memcpy(d, s, size);
        return;
    }
    for (i = 0; i < size; i++) d[i] = s[size - 1 - i];
}

/* ------------------------------------------------------------------------ */
/* struct.pack                                                               */

/* The integer bits the original stores for the number argument `arg`. */
static uint64_t integer_bits(lua_State *L, int arg) {
    lua_Number n = luaL_checknumber(L, arg);
    if (n < 0) return (uint64_t)to_int64(n);
    return to_uint64(n);
}

static int struct_pack(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    Layout h;
    luaL_Buffer b;
    int arg = 2;
    size_t total = 0;

    layout_init(&h);
    /* A nil between the arguments and the buffer's stack use: an item that
     * runs past the last argument reports "got nil", as in the original. */
    lua_pushnil(L);
    luaL_buffinit(L, &b);
    while (*fmt != '\0') {
        int opt = *fmt++;
        size_t size = option_size(L, opt, &fmt);
        int pad = padding_before(total, &h, opt, size);

        total += pad;
        while (pad-- > 0) luaL_addchar(&b, '\0');
        if (is_integer_option(opt)) {
            put_integer(&b, integer_bits(L, arg++), h.little, size);
        } else switch (opt) {
        case 'x':
            luaL_addchar(&b, '\0');
            break;
        case 'f': {
            float f = (float)luaL_checknumber(L, arg++);
            char bytes[sizeof f];
            copy_ordered(bytes, &f, sizeof f, h.little);
            luaL_addlstring(&b, bytes, sizeof f);
            break;
        }
        case 'd': {
            double d = (double)luaL_checknumber(L, arg++);
            char bytes[sizeof d];
            copy_ordered(bytes, &d, sizeof d, h.little);
            luaL_addlstring(&b, bytes, sizeof d);
            break;
        }
        case 'c': case 's': {
            size_t len;
            const char *s = luaL_checklstring(L, arg++, &len);
            if (size == 0) size = len;
            /* The original names the argument after this one. */
            luaL_argcheck(L, len >= size, arg, "string too short");
            luaL_addlstring(&b, s, size);
            if (opt == 's') {
                luaL_addchar(&b, '\0');
                size++;
            }
            break;
        }
        default:
            apply_control(L, opt, &fmt, &h);
        }
        total += size;
    }
    luaL_pushresult(&b);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* struct.unpack                                                             */

/* Room for `size` bytes at `pos` in data of length `len`, without overflow. */
static int fits(size_t pos, size_t size, size_t len) {
    return size <= len && pos <= len - size;
}

static int struct_unpack(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    size_t pos = (size_t)luaL_optinteger(L, 3, 1);
    int results = 0;
    Layout h;

    luaL_argcheck(L, pos > 0, 3, "offset must be 1 or greater");
    pos--;
    layout_init(&h);
    while (*fmt != '\0') {
        int opt = *fmt++;
        size_t size = option_size(L, opt, &fmt);

        pos += padding_before(pos, &h, opt, size);
        luaL_argcheck(L, fits(pos, size, len), 2, "data string too short");
        luaL_checkstack(L, 2, "too many results"); /* a value and the position */
        if (is_integer_option(opt)) {
            int is_signed = opt >= 'a' && opt <= 'z';
            lua_pushnumber(L, get_integer(data + pos, h.little, is_signed, size));
            results++;
        } else switch (opt) {
        case 'x':
            break;
        case 'f': {
            float f;
            copy_ordered(&f, data + pos, sizeof f, h.little);
            lua_pushnumber(L, (lua_Number)f);
            results++;
            break;
        }
        case 'd': {
            double d;
            copy_ordered(&d, data + pos, sizeof d, h.little);
            lua_pushnumber(L, (lua_Number)d);
            results++;
            break;
        }
        case 'c':
            if (size == 0) {  /* the length is the value read just before */
                if (results == 0 || !lua_isnumber(L, -1))
                    luaL_error(L, "format 'c0' needs a previous size");
                size = (size_t)to_uint64(lua_tonumber(L, -1));
                lua_pop(L, 1);
                results--;
                luaL_argcheck(L, fits(pos, size, len), 2, "data string too short");
            }
            lua_pushlstring(L, data + pos, size);
            results++;
            break;
        case 's': {
            const char *end = memchr(data + pos, '\0', len - pos);
            if (end == NULL)
                luaL_error(L, "unfinished string in data");
            size = (size_t)(end - (data + pos)) + 1;
            lua_pushlstring(L, data + pos, size - 1);
            results++;
            break;
        }
        default:
            apply_control(L, opt, &fmt, &h);
        }
        pos += size;
    }
    lua_pushinteger(L, (lua_Integer)(pos + 1));
    return results + 1;
}

/* ------------------------------------------------------------------------ */
/* struct.size                                                               */

static int struct_size(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    size_t pos = 0;
    Layout h;

    layout_init(&h);
    while (*fmt != '\0') {
        int opt = *fmt++;
        size_t size = option_size(L, opt, &fmt);

        pos += padding_before(pos, &h, opt, size);
        if (opt == 's')
            luaL_argerror(L, 1, "option 's' has no fixed size");
        else if (opt == 'c' && size == 0)
            luaL_argerror(L, 1, "option 'c0' has no fixed size");
        if (!is_alnum(opt))
            apply_control(L, opt, &fmt, &h);
        pos += size;
    }
    lua_pushinteger(L, (lua_Integer)pos);
    return 1;
}

/* ------------------------------------------------------------------------ */

int luaopen_struct(lua_State *L) {
    static const luaL_Reg functions[] = {
        {"pack", struct_pack},
        {"unpack", struct_unpack},
        {"size", struct_size},
        {NULL, NULL}
    };
    luaL_register(L, "struct", functions);
    return 1;
}
