return { answer = function() return "from --stdlib" end }
