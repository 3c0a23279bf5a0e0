-- refit.base64: the standard alphabet with padding (RFC 4648), as Kubernetes Secret data uses it.
--
--   base64.encode("hi")   --> "aGk="
--   base64.decode("aGk=") --> "hi"  (or nil, why: for text that is not base64)
local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local INDEX = {}
for i = 1, 64 do INDEX[ALPHABET:byte(i)] = i - 1 end

function M.encode(s)
  if type(s) ~= "string" then error("base64.encode: expected a string, got " .. type(s), 2) end
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q1, q2, q3, q4 = (n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63
    out[#out + 1] = ALPHABET:sub(q1 + 1, q1 + 1) .. ALPHABET:sub(q2 + 1, q2 + 1)
      .. (b and ALPHABET:sub(q3 + 1, q3 + 1) or "=") .. (c and ALPHABET:sub(q4 + 1, q4 + 1) or "=")
  end
  return table.concat(out)
end

function M.decode(s)
  if type(s) ~= "string" then error("base64.decode: expected a string, got " .. type(s), 2) end
  s = s:gsub("%s", "")
  if #s % 4 ~= 0 then return nil, "not base64: the length is not a multiple of 4" end
  local out = {}
  for i = 1, #s, 4 do
    local n, pad = 0, 0
    for j = i, i + 3 do
      local ch = s:byte(j)
      local v = INDEX[ch]
      if ch == 61 and j >= #s - 1 then          -- '=' only in the last two places
        v, pad = 0, pad + 1
      elseif v == nil or pad > 0 then
        return nil, string.format("not base64: unexpected %q at offset %d", string.char(ch), j)
      end
      n = (n << 6) | v
    end
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, 3 - pad)
  end
  return table.concat(out)
end

return M
