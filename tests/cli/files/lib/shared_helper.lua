return { answer = function() return "from --lib" end }
