# Turns a text file into a C string constant: cmake -DIN= -DOUT= -DNAME= -P embed.cmake
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* Generated from config/stratosd.conf; do not edit. */\nstatic const char ${NAME}[] = {${bytes} 0x00};\n")
