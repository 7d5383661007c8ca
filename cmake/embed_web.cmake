# The web chat page (web/) embedded into whale_server at build time: one self-contained HTML file
# (styles and scripts inlined, marked and DOMPurify from web/node_modules) written as a byte array.
# Included from CMakeLists.txt it adds the build step; run with -P (the build step) it does the work.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  set(_web ${CMAKE_SOURCE_DIR}/web)
  set(_web_deps
      ${_web}/node_modules/marked/lib/marked.umd.js
      ${_web}/node_modules/dompurify/dist/purify.min.js)
  foreach(_f ${_web_deps})
    if(NOT EXISTS ${_f})
      message(FATAL_ERROR "web/node_modules lacks ${_f}: run scripts/npm_setup.sh (npm ci in web/) "
                          "before configuring; the web page embeds marked and DOMPurify from there.")
    endif()
  endforeach()
  set(_web_sources ${_web}/index.html ${_web}/style.css ${_web}/store.js ${_web}/api.js ${_web}/app.js)
  set(_web_cpp ${CMAKE_BINARY_DIR}/generated/web_page.cpp)
  add_custom_command(
    OUTPUT ${_web_cpp}
    COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${_web} -DOUT=${_web_cpp} -P ${CMAKE_CURRENT_LIST_FILE}
    DEPENDS ${_web_sources} ${_web_deps} ${_web}/package-lock.json ${CMAKE_CURRENT_LIST_FILE}
    COMMENT "Embedding the web chat page (web/)"
    VERBATIM)
  target_sources(whale_server PRIVATE ${_web_cpp})
  return()
endif()

# Script mode: WEB_DIR, OUT.
function(web_read var path)  # the file's text, source-map comment dropped (nothing is fetched)
  file(READ ${path} text)
  string(REGEX REPLACE "\n//# sourceMappingURL=[^\n]*" "\n" text "${text}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

# Inlined text must not end its element early: an HTML parser ends <script> at the first
# "</script" whatever the JS means there, and "<!--" followed by "<script" changes its state.
function(web_check_inline path text end_tag)
  string(TOLOWER "${text}" lower)
  string(FIND "${lower}" "</${end_tag}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${path} contains </${end_tag} and cannot be inlined into the page")
  endif()
  string(FIND "${lower}" "<!--" comment)
  string(FIND "${lower}" "<script" script)
  if(NOT comment EQUAL -1 AND NOT script EQUAL -1)
    message(FATAL_ERROR "${path} contains both <!-- and <script and cannot be inlined into the page")
  endif()
endfunction()

web_read(page ${WEB_DIR}/index.html)
web_read(css ${WEB_DIR}/style.css)
web_check_inline(${WEB_DIR}/style.css "${css}" style)
set(scripts "")
foreach(js node_modules/marked/lib/marked.umd.js node_modules/dompurify/dist/purify.min.js store.js api.js app.js)
  web_read(text ${WEB_DIR}/${js})
  web_check_inline(${WEB_DIR}/${js} "${text}" script)
  string(APPEND scripts "<script>/* ${js} */\n${text}\n</script>\n")
endforeach()
foreach(marker "<!-- whale:style -->" "<!-- whale:scripts -->")
  string(FIND "${page}" "${marker}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${WEB_DIR}/index.html lacks the marker ${marker}")
  endif()
endforeach()
string(REPLACE "<!-- whale:style -->" "<style>\n${css}</style>" page "${page}")
string(REPLACE "<!-- whale:scripts -->" "${scripts}" page "${page}")

# A byte array, not a string literal: no delimiter to collide with and no literal length limit.
get_filename_component(out_dir ${OUT} DIRECTORY)
file(WRITE ${out_dir}/web_page.html "${page}")  # the page as served, for inspection
file(READ ${out_dir}/web_page.html hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}
     "// Generated from web/ by cmake/embed_web.cmake: the page served at \"/\".\n"
     "#include <cstddef>\n\nnamespace whale::server {\n"
     "extern const unsigned char kWebPage[];\nextern const std::size_t kWebPageSize;\n"
     "const unsigned char kWebPage[] = {\n${bytes}\n};\n"
     "const std::size_t kWebPageSize = ${size};\n}  // namespace whale::server\n")
