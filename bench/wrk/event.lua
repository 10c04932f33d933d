-- wrk script for benchmark 1 (and the load of benchmark 7): one native page view per
-- request, over a few municipal pages, each from a different client address (the
-- collector under test reads it from X-Forwarded-For, so visitors and Kafka keys vary).
-- Argument after `--`: [wait_ms] paces the load: each connection waits that long after
-- an answer before its next request (bench/bench.py calibrates it to offer a rate).
-- The same script runs against nginx (which answers 204 and ignores the body).

local pages = {
  { "/werk-en-inkomen/bijstand", "Bijstand aanvragen" },
  { "/schulden/schuldhulpverlening", "Hulp bij geldzorgen en schulden" },
  { "/belastingen/kwijtschelding", "Kwijtschelding gemeentelijke belastingen" },
  { "/inkomen/energietoeslag", "Energietoeslag" },
  { "/afval/grofvuil", "Grofvuil aanmelden" },
  { "/paspoort-id-kaart", "Paspoort of ID-kaart aanvragen" },
  { "/parkeren/bewonersvergunning", "Parkeervergunning voor bewoners" },
  { "/zorg/wmo", "Hulp bij het huishouden (Wmo)" },
}

local wait_ms = 0
local n = 0

function init(args)
  if args[1] then
    wait_ms = tonumber(args[1])
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

-- wrk waits whole milliseconds: round up or down at random so the mean wait is exact.
function delay()
  local w = math.floor(wait_ms)
  if math.random() < wait_ms - w then
    w = w + 1
  end
  return w
end

function request()
  n = n % #pages + 1
  local page = pages[n]
  local body = string.format(
    '{"site":"demo","type":"pageview","url":"http://localhost%s","title":"%s"}', page[1], page[2])
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ["Origin"] = "http://localhost",
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
  }
  return wrk.format("POST", "/v1/events", headers, body)
end
