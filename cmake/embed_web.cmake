# The web chat page (web/) embedded into whale_server at build time: one self-contained HTML file
# (styles, scripts and KaTeX's fonts inlined; marked, DOMPurify and KaTeX from web/node_modules)
# written as a byte array.
# Included from CMakeLists.txt it adds the build step; run with -P (the build step) it does the work.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  set(_web ${CMAKE_SOURCE_DIR}/web)
  set(_web_deps
      ${_web}/node_modules/marked/lib/marked.umd.js
      ${_web}/node_modules/dompurify/dist/purify.min.js
      ${_web}/node_modules/katex/dist/katex.min.js
      ${_web}/node_modules/katex/dist/katex.min.css)
  foreach(_f ${_web_deps})
    if(NOT EXISTS ${_f})
      message(FATAL_ERROR "web/node_modules lacks ${_f}: run scripts/npm_setup.sh (npm ci in web/) "
                          " before configuring; the web page embeds marked, DOMPurify and KaTeX from there.")
    endif()
  endforeach()
  set(_web_sources ${_web}/index.html ${_web}/style.css ${_web}/i18n.js ${_web}/store.js ${_web}/api.js
      ${_web}/render.js ${_web}/app.js)
  file(GLOB _web_fonts ${_web}/node_modules/katex/dist/fonts/*.woff2)
  set(_web_cpp ${CMAKE_BINARY_DIR}/generated/web_page.cpp)
  add_custom_command(
    OUTPUT ${_web_cpp}
    COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${_web} -DOUT=${_web_cpp} -P ${CMAKE_CURRENT_LIST_FILE}
    DEPENDS ${_web_sources} ${_web_deps} ${_web_fonts} ${_web}/package-lock.json ${CMAKE_CURRENT_LIST_FILE}
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

# Base64 of hex digits (as file(READ ... HEX) gives them), for data: URIs.
function(web_base64 var hex)
  set(alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  set(digits 0 1 2 3 4 5 6 7 8 9 a b c d e f)
  # Three hex digits are twelve bits are two base64 characters: a table of all 4096 makes the
  # encoding one lookup per three digits (a loop over bits would take minutes in CMake).
  set(v 0)
  foreach(a ${digits})
    foreach(b ${digits})
      foreach(c ${digits})
        math(EXPR hi "${v} >> 6")
        math(EXPR lo "${v} & 63")
        string(SUBSTRING "${alphabet}" ${hi} 1 x)
        string(SUBSTRING "${alphabet}" ${lo} 1 y)
        set(t_${a}${b}${c} "${x}${y}")
        math(EXPR v "${v} + 1")
      endforeach()
    endforeach()
  endforeach()
  string(LENGTH "${hex}" n)
  math(EXPR rest "${n} % 6")
  math(EXPR body "${n} - ${rest}")
  string(SUBSTRING "${hex}" 0 ${body} main)
  string(SUBSTRING "${hex}" ${body} -1 tail)
  string(REGEX MATCHALL "..." groups "${main}")
  set(out "")
  foreach(g IN LISTS groups)
    string(APPEND out "${t_${g}}")
  endforeach()
  if(rest EQUAL 2)  # one byte left: twelve bits with four zero bits added, then ==
    string(APPEND out "${t_${tail}0}==")
  elseif(rest EQUAL 4)  # two bytes left: eighteen bits (two zero bits added), then =
    string(SUBSTRING "${tail}" 0 3 g1)
    string(SUBSTRING "${tail}" 3 1 g2)
    string(SUBSTRING "${t_${g2}00}" 0 1 last)
    string(APPEND out "${t_${g1}}${last}=")
  endif()
  set(${var} "${out}" PARENT_SCOPE)
endfunction()

# KaTeX's stylesheet with its fonts as data: URIs (the CSP allows fonts from data: only): each
# @font-face keeps its woff2 source, and the woff and ttf fallbacks, which every browser that runs
# this page can do without, are dropped.
function(web_katex_css var dir)
  web_read(css ${dir}/katex.min.css)
  string(REGEX REPLACE
         "url\\(fonts/([A-Za-z0-9_-]+)\\.woff2\\) format\\(\"woff2\"\\),url\\([^)]*\\) format\\(\"woff\"\\),url\\([^)]*\\) format\\(\"truetype\"\\)"
         "url(whale-font:\\1) format(\"woff2\")" css "${css}")
  string(REGEX MATCHALL "whale-font:[A-Za-z0-9_-]+" fonts "${css}")
  list(REMOVE_DUPLICATES fonts)
  foreach(font IN LISTS fonts)
    string(REPLACE "whale-font:" "" name "${font}")
    file(READ ${dir}/fonts/${name}.woff2 hex HEX)
    web_base64(b64 "${hex}")
    string(REPLACE "url(${font})" "url(data:font/woff2;base64,${b64})" css "${css}")
  endforeach()
  string(REGEX MATCH "url\\([^d][^)]*\\)" left "${css}")
  if(fonts STREQUAL "" OR left)
    message(FATAL_ERROR "${dir}/katex.min.css: a font URL was not turned into a data: URI (${left}); "
                        "KaTeX changed its stylesheet, and cmake/embed_web.cmake must follow")
  endif()
  set(${var} "${css}" PARENT_SCOPE)
endfunction()

web_read(page ${WEB_DIR}/index.html)
web_katex_css(katex_css ${WEB_DIR}/node_modules/katex/dist)
web_read(css ${WEB_DIR}/style.css)
set(css "/* katex.min.css */\n${katex_css}\n/* style.css */\n${css}")
web_check_inline(${WEB_DIR}/style.css "${css}" style)
set(scripts "")
foreach(js node_modules/marked/lib/marked.umd.js node_modules/dompurify/dist/purify.min.js
           node_modules/katex/dist/katex.min.js i18n.js store.js api.js render.js app.js)
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
