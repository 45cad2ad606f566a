-- A user module beside a test script (required by modules.lua).
return { answer = 42 }
