-- Put before every snippet, by harness.c and by compare.py alike: lines starting
-- with "--" are dropped and the rest are joined with spaces into one line, so the
-- snippet is on line 1 of "@user_script" as under Redis's EVAL.
-- A snippet is the body of a function; __run calls it under pcall and turns what
-- it returns into one line of text: "OK v1 v2 ..." or "ERR <message>". Values print
-- as nil/true/false, numbers as %.17g, strings as s:<hex>, tables as {k=v,...}
-- with the entries sorted. Helpers for snippets: H (hex of a string), X (bytes
-- from hex), R (string.rep), P (cmsgpack.pack), U (cmsgpack.unpack), nest(d, leaf)
-- (leaf wrapped in d one-element tables), seq(n [, f]) ({1..n} or {f(1)..f(n)}),
-- NAN, INF, NEGZERO (made at run time, since Lua 5.1 folds -0.0 into 0).
local __hexmap = {} for __i = 0, 255 do __hexmap[string.char(__i)] = string.format('%02x', __i) end
local function H(s) return (string.gsub(s, '.', __hexmap)) end
local function X(h) return (string.gsub(h, '%x%x', function(p) return string.char(tonumber(p, 16)) end)) end
local R = string.rep
local P = cmsgpack.pack
local U = cmsgpack.unpack
local INF = math.huge
local NAN = -(INF - INF)
local NEGZERO = -(1 / INF)
local function nest(d, leaf) local t = leaf for __i = 1, d do t = {t} end return t end
local function seq(n, f) local t = {} for __i = 1, n do if f then t[__i] = f(__i) else t[__i] = __i end end return t end
local function __esc(s) return (string.gsub(s, '[%c\128-\255\\]', function(c) return string.format('\\x%02x', string.byte(c)) end)) end
local __dump
__dump = function(v, seen)
  local t = type(v)
  if t == 'string' then return 's:' .. H(v) end
  if t == 'number' then return string.format('%.17g', v) end
  if t == 'nil' or t == 'boolean' then return tostring(v) end
  if t ~= 'table' then return t end
  if seen[v] then return 'cycle' end
  seen[v] = true
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = __dump(k, seen) .. '=' .. __dump(x, seen) end
  seen[v] = nil
  table.sort(parts)
  return '{' .. table.concat(parts, ',') .. '}'
end
local function __collect(...) return select('#', ...), {...} end
local function __run(f)
  local n, r = __collect(pcall(f))
  if not r[1] then
    if type(r[2]) == 'string' then return 'ERR ' .. __esc(r[2]) end
    return 'ERR ' .. __dump(r[2], {})
  end
  local out = {'OK'}
  for __i = 2, n do out[#out + 1] = __dump(r[__i], {}) end
  return table.concat(out, ' ')
end
