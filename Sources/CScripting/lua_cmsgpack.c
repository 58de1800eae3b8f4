/*
 * lua_cmsgpack.c - the "cmsgpack" library of Needletail's Lua scripts.
 *
 * MessagePack for PUC Lua 5.1, written to behave exactly like the cmsgpack
 * library Redis 7.0 gives EVAL scripts (antirez's lua-cmsgpack 0.4.0 with
 * Redis's fixes), as seen from a script:
 *
 *   cmsgpack.pack(v1, v2, ...)          the encodings of all arguments, concatenated
 *   cmsgpack.unpack(s)                  every value encoded in s
 *   cmsgpack.unpack_one(s [, off])      next offset (-1 once s is used up), one value
 *   cmsgpack.unpack_limit(s, n [, off]) next offset (-1 once s is used up), up to n values
 *   cmsgpack._NAME, _VERSION, _COPYRIGHT, _DESCRIPTION
 *
 * Encoding:
 *   - a number that is a finite integer in int64 range becomes the smallest
 *     msgpack integer (fixnum, uint 8..64, int 8..64); any other number a
 *     float 32 when that is exact, else a float 64;
 *   - a table whose keys are exactly the numbers 1..N (each fitting a C int)
 *     becomes an array (the empty table too), any other table a map, written
 *     in lua_next order;
 *   - a table nested 16 deep, nil, functions, userdata and threads become nil;
 *   - strings become fixstr, str 8, str 16 or str 32.
 * Decoding reads nil, booleans, every integer, float 32/64, str fix/8/16/32,
 * array and map fix/16/32. bin, ext and 0xc1 are "Bad data format"; a uint 64
 * above 2^63-1 wraps to a negative number; nothing limits nesting.
 *
 * The Lua stack is used in the same order and amounts as Redis's library
 * (the same pushes and lua_checkstack calls with the same messages), so even
 * the "stack overflow (...)" errors come at the same argument counts.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "cscripting_libs.h"

#define MSGPACK_MAX_NESTING 16

/* ------------------------------------------------------------------------ */
/* Output bytes, kept in memory from the Lua allocator.                      */

typedef struct {
    lua_State *L;
    unsigned char *bytes;
    size_t len, cap;
} OutBuf;

static void *lua_mem(lua_State *L, void *block, size_t old_size, size_t new_size) {
    void *ud;
    lua_Alloc alloc = lua_getallocf(L, &ud);
    return alloc(ud, block, old_size, new_size);
}

static void out_init(OutBuf *o, lua_State *L) {
    o->L = L;
    o->bytes = NULL;
    o->len = o->cap = 0;
}

static void out_free(OutBuf *o) {
    if (o->bytes != NULL) lua_mem(o->L, o->bytes, o->cap, 0);
    o->bytes = NULL;
    o->len = o->cap = 0;
}

static void out_put(OutBuf *o, const void *src, size_t n) {
    if (n == 0) return;
    if (o->cap - o->len < n) {
        size_t want = (o->len + n) * 2;
        unsigned char *grown = lua_mem(o->L, o->bytes, o->cap, want);
        if (grown == NULL) {
            out_free(o);
            luaL_error(o->L, "not enough memory");
        }
        o->bytes = grown;
        o->cap = want;
    }
    memcpy(o->bytes + o->len, src, n);
    o->len += n;
}

static void out_byte(OutBuf *o, unsigned char b) {
    out_put(o, &b, 1);
}

/* A type byte followed by the low `width` bytes of v, most significant first. */
static void out_tagged(OutBuf *o, unsigned char tag, uint64_t v, int width) {
    unsigned char b[9];
    int i;
    b[0] = tag;
    for (i = width; i >= 1; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    out_put(o, b, (size_t)width + 1);
}

/* ------------------------------------------------------------------------ */
/* msgpack encodings of plain values.                                        */

static void encode_integer(OutBuf *o, int64_t n) {
    uint64_t u = (uint64_t)n; /* two's complement bits */
    if (n >= 0) {
        if (n <= 0x7f) out_byte(o, (unsigned char)n);
        else if (n <= 0xff) out_tagged(o, 0xcc, u, 1);
        else if (n <= 0xffff) out_tagged(o, 0xcd, u, 2);
        else if (n <= 0xffffffffLL) out_tagged(o, 0xce, u, 4);
        else out_tagged(o, 0xcf, u, 8);
    } else {
        if (n >= -32) out_byte(o, (unsigned char)(u & 0xff));
        else if (n >= -128) out_tagged(o, 0xd0, u, 1);
        else if (n >= -32768) out_tagged(o, 0xd1, u, 2);
        else if (n >= INT32_MIN) out_tagged(o, 0xd2, u, 4);
        else out_tagged(o, 0xd3, u, 8);
    }
}

static void encode_real(OutBuf *o, double d) {
    float f = (float)d;
    if ((double)f == d) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        out_tagged(o, 0xca, bits, 4);
    } else {
        uint64_t bits;
        memcpy(&bits, &d, 8);
        out_tagged(o, 0xcb, bits, 8);
    }
}

static void encode_str_header(OutBuf *o, size_t n) {
    if (n < 32) out_byte(o, (unsigned char)(0xa0 | n));
    else if (n <= 0xff) out_tagged(o, 0xd9, n, 1);
    else if (n <= 0xffff) out_tagged(o, 0xda, n, 2);
    else out_tagged(o, 0xdb, n, 4);
}

/* Array and map headers: fix form below 16, then 16 and 32 bit counts. */
static void encode_count_header(OutBuf *o, uint64_t n, unsigned char fix,
                                unsigned char tag16, unsigned char tag32) {
    if (n <= 15) out_byte(o, (unsigned char)(fix | n));
    else if (n <= 0xffff) out_tagged(o, tag16, n, 2);
    else out_tagged(o, tag32, n, 4);
}

/* ------------------------------------------------------------------------ */
/* Lua values to msgpack. Each encoder consumes the value on top of stack.   */

/* luaL_checkstack that frees the output first, as the error unwinds past
 * cmsgpack_pack. The messages name the original's C functions (they are
 * what scripts see), hence "mp_encode_lua_table_as_array" and the like. */
static void pack_need_stack(lua_State *L, OutBuf *o, int slots, const char *what) {
    if (!lua_checkstack(L, slots)) {
        out_free(o);
        luaL_error(L, "stack overflow (%s)", what);
    }
}

/* An integer-valued number with an int64 value (NaN and infinities are not). */
static int number_is_int64(lua_Number n) {
    return n >= -9223372036854775808.0 && n < 9223372036854775808.0
        && (lua_Number)(int64_t)n == n;
}

/* A positive table key usable as an array index: integral and fits an int. */
static int number_is_index(lua_Number n) {
    return n > 0 && n <= (lua_Number)INT_MAX && (lua_Number)(int)n == n;
}

static void pack_value(lua_State *L, OutBuf *o, int depth);

/* True when the table's keys are exactly 1..N (N may be 0). */
static int table_is_sequence(lua_State *L, OutBuf *o) {
    int top = lua_gettop(L);
    int count = 0, highest = 0;

    pack_need_stack(L, o, 2, "in function table_is_an_array");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_Number key;
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) break;
        key = lua_tonumber(L, -1);
        if (!number_is_index(key)) break;
        if ((int)key > highest) highest = (int)key;
        count++;
    }
    if (lua_gettop(L) != top) { /* left the walk early: not a sequence */
        lua_settop(L, top);
        return 0;
    }
    return highest == count;
}

static void pack_sequence(lua_State *L, OutBuf *o, int depth) {
    size_t n = lua_objlen(L, -1), i;

    encode_count_header(o, n, 0x90, 0xdc, 0xdd);
    pack_need_stack(L, o, 1, "in function mp_encode_lua_table_as_array");
    for (i = 1; i <= n; i++) {
        /* Keys 1..n all hold values, so a raw read sees what t[i] would. */
        lua_rawgeti(L, -1, (int)i);
        pack_value(L, o, depth + 1);
    }
}

static void pack_map(lua_State *L, OutBuf *o, int depth) {
    size_t pairs = 0;

    pack_need_stack(L, o, 3, "in function mp_encode_lua_table_as_map");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        pairs++;
    }
    encode_count_header(o, pairs, 0x80, 0xde, 0xdf);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);           /* key value key */
        pack_value(L, o, depth + 1);    /* the key copy */
        pack_value(L, o, depth + 1);    /* the value; the key stays for lua_next */
    }
}

static void pack_value(lua_State *L, OutBuf *o, int depth) {
    int type = lua_type(L, -1);

    if (type == LUA_TTABLE && depth == MSGPACK_MAX_NESTING) type = LUA_TNIL;
    switch (type) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        encode_str_header(o, len);
        out_put(o, s, len);
        break;
    }
    case LUA_TBOOLEAN:
        out_byte(o, lua_toboolean(L, -1) ? 0xc3 : 0xc2);
        break;
    case LUA_TNUMBER: {
        lua_Number n = lua_tonumber(L, -1);
        if (number_is_int64(n)) encode_integer(o, (int64_t)n);
        else encode_real(o, (double)n);
        break;
    }
    case LUA_TTABLE:
        if (table_is_sequence(L, o)) pack_sequence(L, o, depth);
        else pack_map(L, o, depth);
        break;
    default:
        out_byte(o, 0xc0);
        break;
    }
    lua_pop(L, 1);
}

/* cmsgpack.pack(...): each argument is encoded into its own string on the
 * stack, and the strings are concatenated at the end. */
static int cmsgpack_pack(lua_State *L) {
    int nargs = lua_gettop(L), i;
    OutBuf o;

    if (nargs == 0)
        return luaL_argerror(L, 0, "MessagePack pack needs input.");
    if (!lua_checkstack(L, nargs))
        return luaL_argerror(L, 0, "Too many arguments for MessagePack pack.");

    out_init(&o, L);
    for (i = 1; i <= nargs; i++) {
        pack_need_stack(L, &o, 1, "in function mp_check");
        lua_pushvalue(L, i);
        pack_value(L, &o, 0);
        lua_pushlstring(L, (const char *)o.bytes, o.len);
        o.len = 0;
    }
    out_free(&o);
    lua_concat(L, nargs);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* msgpack to Lua values.                                                     */

enum { READ_OK, READ_SHORT, READ_BAD };

typedef struct {
    const unsigned char *p;
    size_t left;
    int status;
} Reader;

/* False (and status READ_SHORT) when fewer than n bytes remain. */
static int reader_has(Reader *r, size_t n) {
    if (r->left < n) {
        r->status = READ_SHORT;
        return 0;
    }
    return 1;
}

static void reader_skip(Reader *r, size_t n) {
    r->p += n;
    r->left -= n;
}

/* The `width` bytes after the type byte, as a big-endian number. */
static uint64_t reader_operand(const Reader *r, int width) {
    uint64_t v = 0;
    int i;
    for (i = 1; i <= width; i++) v = (v << 8) | r->p[i];
    return v;
}

/* The low `width` bytes of v as a two's complement number. */
static lua_Integer wrap_to_signed(uint64_t v, int width) {
    uint64_t sign = (uint64_t)1 << (width * 8 - 1);
    if (v & sign) /* v - 2^(8*width), computed without overflow */
        return -(lua_Integer)(~v & (sign - 1)) - 1;
    return (lua_Integer)v;
}

static void unpack_value(lua_State *L, Reader *r);

static void unpack_array(lua_State *L, Reader *r, size_t count) {
    int index = 1;

    lua_newtable(L);
    luaL_checkstack(L, 1, "in function mp_decode_to_lua_array");
    while (count--) {
        lua_pushnumber(L, index++);
        unpack_value(L, r);
        if (r->status != READ_OK) return;
        lua_settable(L, -3);
    }
}

static void unpack_map(lua_State *L, Reader *r, size_t count) {
    lua_newtable(L);
    while (count--) {
        unpack_value(L, r); /* key */
        if (r->status != READ_OK) return;
        unpack_value(L, r); /* value */
        if (r->status != READ_OK) return;
        lua_settable(L, -3);
    }
}

/* Fixed-size numbers: `width` operand bytes after the type byte. */
static void unpack_unsigned(lua_State *L, Reader *r, int width) {
    uint64_t v;
    if (!reader_has(r, (size_t)width + 1)) return;
    v = reader_operand(r, width);
    /* Wider than lua_Integer's positive range wraps, as in Redis. */
    lua_pushinteger(L, v > INT64_MAX ? wrap_to_signed(v, 8) : (lua_Integer)v);
    reader_skip(r, (size_t)width + 1);
}

static void unpack_signed(lua_State *L, Reader *r, int width) {
    lua_Integer v;
    if (!reader_has(r, (size_t)width + 1)) return;
    v = wrap_to_signed(reader_operand(r, width), width);
    lua_pushnumber(L, (lua_Number)v);
    reader_skip(r, (size_t)width + 1);
}

static void unpack_float(lua_State *L, Reader *r) {
    uint32_t bits;
    float f;
    if (!reader_has(r, 5)) return;
    bits = (uint32_t)reader_operand(r, 4);
    memcpy(&f, &bits, 4);
    lua_pushnumber(L, (lua_Number)f);
    reader_skip(r, 5);
}

static void unpack_double(lua_State *L, Reader *r) {
    uint64_t bits;
    double d;
    if (!reader_has(r, 9)) return;
    bits = reader_operand(r, 8);
    memcpy(&d, &bits, 8);
    lua_pushnumber(L, (lua_Number)d);
    reader_skip(r, 9);
}

/* A string whose length takes `width` bytes after the type byte. */
static void unpack_string(lua_State *L, Reader *r, int width) {
    size_t len;
    if (!reader_has(r, (size_t)width + 1)) return;
    len = (size_t)reader_operand(r, width);
    reader_skip(r, (size_t)width + 1);
    if (!reader_has(r, len)) return;
    lua_pushlstring(L, (const char *)r->p, len);
    reader_skip(r, len);
}

/* An array or map whose count takes `width` bytes after the type byte. */
static void unpack_container(lua_State *L, Reader *r, int width, int is_map) {
    size_t count;
    if (!reader_has(r, (size_t)width + 1)) return;
    count = (size_t)reader_operand(r, width);
    reader_skip(r, (size_t)width + 1);
    if (is_map) unpack_map(L, r, count);
    else unpack_array(L, r, count);
}

/* Decodes one value onto the stack; on failure sets r->status instead. */
static void unpack_value(lua_State *L, Reader *r) {
    unsigned char tag;

    if (!reader_has(r, 1)) return;
    /* One more slot per value: unpack has no idea how many values come. */
    luaL_checkstack(L, 1,
        "too many return values at once; use unpack_one or unpack_limit instead.");
    tag = r->p[0];

    if (tag <= 0x7f) {                      /* positive fixnum */
        lua_pushinteger(L, tag);
        reader_skip(r, 1);
    } else if (tag >= 0xe0) {               /* negative fixnum */
        lua_pushinteger(L, (lua_Integer)tag - 256);
        reader_skip(r, 1);
    } else if ((tag & 0xe0) == 0xa0) {      /* fixstr: the length is in the tag */
        size_t len = tag & 0x1f;
        if (!reader_has(r, 1 + len)) return;
        lua_pushlstring(L, (const char *)r->p + 1, len);
        reader_skip(r, 1 + len);
    } else if ((tag & 0xf0) == 0x90) {      /* fixarray */
        reader_skip(r, 1);
        unpack_array(L, r, tag & 0x0f);
    } else if ((tag & 0xf0) == 0x80) {      /* fixmap */
        reader_skip(r, 1);
        unpack_map(L, r, tag & 0x0f);
    } else {
        switch (tag) {
        case 0xc0: lua_pushnil(L); reader_skip(r, 1); break;
        case 0xc2: lua_pushboolean(L, 0); reader_skip(r, 1); break;
        case 0xc3: lua_pushboolean(L, 1); reader_skip(r, 1); break;
        case 0xca: unpack_float(L, r); break;
        case 0xcb: unpack_double(L, r); break;
        case 0xcc: unpack_unsigned(L, r, 1); break;
        case 0xcd: unpack_unsigned(L, r, 2); break;
        case 0xce: unpack_unsigned(L, r, 4); break;
        case 0xcf: unpack_unsigned(L, r, 8); break;
        case 0xd0: unpack_signed(L, r, 1); break;
        case 0xd1: unpack_signed(L, r, 2); break;
        case 0xd2: unpack_signed(L, r, 4); break;
        case 0xd3: unpack_signed(L, r, 8); break;
        case 0xd9: unpack_string(L, r, 1); break;
        case 0xda: unpack_string(L, r, 2); break;
        case 0xdb: unpack_string(L, r, 4); break;
        case 0xdc: unpack_container(L, r, 2, 0); break;
        case 0xdd: unpack_container(L, r, 4, 0); break;
        case 0xde: unpack_container(L, r, 2, 1); break;
        case 0xdf: unpack_container(L, r, 4, 1); break;
        default: r->status = READ_BAD; break; /* 0xc1, bin, ext */
        }
    }
}

/* The low 32 bits as a C int, for messages that print with %d. */
static int low_int(int64_t v) {
    uint32_t u = (uint32_t)(uint64_t)v;
    return u <= INT_MAX ? (int)u : (int)(u - 0x80000000u) + INT_MIN;
}

/* Decodes up to `limit` values of the string in argument 1 from byte
 * `offset`. limit == 0 and offset == 0 means all values and no offset in
 * the results; otherwise the next offset (-1 at the end) comes first. */
static int unpack_from(lua_State *L, lua_Integer limit, lua_Integer offset) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int everything = (limit == 0 && offset == 0);
    Reader r;
    int count;

    if (offset < 0 || limit < 0)  /* Redis prints the length as the limit */
        return luaL_error(L,
            "Invalid request to unpack with offset of %d and limit of %d.",
            low_int(offset), low_int((int64_t)len));
    if ((size_t)offset > len)
        return luaL_error(L, "Start offset %d greater than input length %d.",
            low_int(offset), low_int((int64_t)len));
    if (everything) limit = INT_MAX;

    r.p = (const unsigned char *)s + offset;
    r.left = len - (size_t)offset;
    r.status = READ_OK;
    for (count = 0; r.left > 0 && count < limit; count++) {
        unpack_value(L, &r);
        if (r.status == READ_SHORT)
            return luaL_error(L, "Missing bytes in input.");
        if (r.status == READ_BAD)
            return luaL_error(L, "Bad data format in input.");
    }
    if (everything) return count;

    luaL_checkstack(L, 1, "in function mp_unpack_full");
    lua_pushinteger(L, r.left == 0 ? -1 : (lua_Integer)(len - r.left));
    lua_insert(L, 2); /* the offset goes first, right after argument 1 */
    return count + 1;
}

/* Keeps only argument 1 (if any), as the original does. */
static void keep_first_argument(lua_State *L) {
    if (lua_gettop(L) > 1) lua_settop(L, 1);
}

static int cmsgpack_unpack(lua_State *L) {
    return unpack_from(L, 0, 0);
}

static int cmsgpack_unpack_one(lua_State *L) {
    lua_Integer offset = luaL_optinteger(L, 2, 0);
    keep_first_argument(L);
    return unpack_from(L, 1, offset);
}

static int cmsgpack_unpack_limit(lua_State *L) {
    lua_Integer limit = luaL_checkinteger(L, 2);
    lua_Integer offset = luaL_optinteger(L, 3, 0);
    keep_first_argument(L);
    return unpack_from(L, limit, offset);
}

/* ------------------------------------------------------------------------ */

int luaopen_cmsgpack(lua_State *L) {
    /* Fields are set in the original's order: pairs() walks them alike. */
    static const luaL_Reg functions[] = {
        {"pack", cmsgpack_pack},
        {"unpack", cmsgpack_unpack},
        {"unpack_one", cmsgpack_unpack_one},
        {"unpack_limit", cmsgpack_unpack_limit},
        {NULL, NULL}
    };
    static const char *const about[][2] = {
        {"_NAME", "cmsgpack"},
        {"_VERSION", "lua-cmsgpack 0.4.0"},
        {"_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"},
        {"_DESCRIPTION", "MessagePack C implementation for Lua"},
    };
    const luaL_Reg *f;
    size_t i;

    lua_newtable(L);
    for (f = functions; f->name != NULL; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
    for (i = 0; i < sizeof(about) / sizeof(about[0]); i++) {
        lua_pushstring(L, about[i][1]);
        lua_setfield(L, -2, about[i][0]);
    }
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cmsgpack");
    return 1;
}
