// The tokenizer test corpus: hand-picked edge cases plus seeded random mixtures of many scripts,
// emoji, code, digits and whitespace. Deterministic: the same seed gives the same strings.
// Every string is well-formed Unicode (no lone surrogates), so node and whale see the same UTF-8.

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const words = {
  english: `the quick brown fox jumps over lazy dog tokenizer model inference weights reasoning
    mixture experts attention latent cache isn't don't I'm we're they've you'll she'd IT'S DON'T
    WE'LL Hello World GPU CPU FP8 BF16 DeepSeek Qwen Llama transformer's O'Brien rock'n'roll`.split(/\s+/),
  chinese_simplified: ['你好', '世界', '人工智能', '深度求索', '模型', '推理', '我们', '中文分词', '数学', '计算机科学', '这是一个测试。', '，', '！'],
  chinese_traditional: ['歡迎', '臺灣', '電腦', '語言模型', '資訊', '學習', '廣東話', '體驗', '憂鬱'],
  japanese: ['こんにちは', '日本語', 'カタカナ', 'ひらがな', '東京', 'トークナイザー', 'ありがとうございます', '漢字かな交じり文', 'ｶﾀｶﾅ', '。', '「引用」'],
  korean: ['안녕하세요', '한국어', '서울', '토크나이저', '감사합니다', '인공지능', '대한민국'],
  arabic: ['مرحبا', 'بالعالم', 'اللغة', 'العربية', 'الذكاء الاصطناعي', '١٢٣٤٥', 'سلام'],
  hindi: ['नमस्ते', 'दुनिया', 'हिन्दी', 'भाषा', 'कृत्रिम बुद्धिमत्ता', '१२३', 'क्षत्रिय'],
  russian: ['Привет', 'мир', 'русский', 'язык', 'нейросеть', 'Ёлка', 'ЁЖИК', 'щёлочь'],
  other: ['Γειά σου', 'κόσμε', 'שלום', 'עולם', 'สวัสดี', 'ภาษาไทย', 'Xin chào', 'Tiếng Việt', 'Ẩm thực', 'Zürich', 'naïve', 'façade', 'smørrebrød', 'Ærøskøbing', 'İstanbul', 'ﬁ ligature', 'Ⅻ', '½', '²³', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟙𝟚𝟛'],
  emoji: ['😀', '👍', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '❤️', '🇯🇵', '🇺🇸', '🧑🏿‍🚀', '✋🏻', '🫠', '☕', '🤖', '🐋', '1️⃣', '#️⃣', '©️', '🏴‍☠️'],
  code: [
    'def f(x):\n    return x ** 2\n',
    'for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}',
    'const x = await fetch(`/api/${id}`);',
    'fn main() { println!("{}", 42_u64); }',
    'SELECT id, name FROM users WHERE age >= 18;',
    '<div class="a">&amp;&lt;</div>',
    'if err != nil {\n\treturn nil, err\n}',
    '#include <vector>\nint main(){std::vector<int> v{1,2,3};}',
    'x = [i for i in range(10) if i % 2 == 0]  # comment',
    '{"key": [1, 2.5e-3, null, true], "k2": "v"}',
    '$ ls -la | grep "\\.cpp$" && echo done',
    'a+=b;c-=d;e*=f;g/=h;i%=j;k<<=1;l>>=2;m&&n||!o',
    '    indented\n        more\n',
    '\\frac{a}{b} + \\sum_{i=0}^{n} x_i^2 = \\boxed{42}',
  ],
  numbers: ['0', '7', '42', '123', '1234', '12345', '2024-01-31', '3.14159', '-273.15', '1e10', '1,000,000', '0x1F', '١٢٣', '१२३', '１２３', '٣.١٤'],
  punct: ['.', ',', '!', '?', '...', '—', '–', '(', ')', '[', ']', '{', '}', '"', "'", '`', '~', '@', '#', '$', '%', '^', '&', '*', '_', '+', '=', '|', '\\', '/', '<', '>', ';', ':', '«', '»', '„', '“', '”', '‘', '’', '¿', '¡', '、', '。', '・', '…'],
  space: [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\n ', ' \t ', '\u00a0', '\u3000', '\u2003', '\u200b', '\u2028', '\ufeff', '\u000b', '\u000c', '\u0085'],
  special: ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>', '<think>', '</think>',
    '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>',
    '<|end_header_id|>', '<｜tool▁sep｜>', '<tool_call>', '<|fim_prefix|>', '<|reserved_special_token_5|>', '<|im_start', '<｜User', '|>'],
  combining: ['e\u0301', 'a\u0308', 'n\u0303', 'A\u030a', 'o\u0302\u0323', 'q\u0307\u0323', 'Ω', 'Å', '\u1100\u1161\u11a8', '\u1112\u1161\u11ab', 'ệ', 'e\u0323\u0302', '\u0915\u093c', '\u0958', 'ﬀ', 'ḱ', 'K'],
};

// Blocks assigned since early Unicode versions (the regex engines of node and PCRE2 carry
// different Unicode versions; characters new in one of them would test that, not whale).
const blocks = [
  [0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x530, 0x58f], [0x5d0, 0x5ea], [0x600, 0x6ff],
  [0x900, 0x97f], [0x980, 0x9ff], [0xe00, 0xe5b], [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x1e00, 0x1eff],
  [0x2000, 0x206f], [0x20a0, 0x20bf], [0x2100, 0x214f], [0x2190, 0x22ff], [0x2500, 0x257f], [0x3000, 0x303f],
  [0x3040, 0x309f], [0x30a0, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0xff00, 0xffef],
  [0x1d400, 0x1d4ff], [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x20000, 0x2a6d6],
];

function pick(rand, list) {
  return list[Math.floor(rand() * list.length)];
}

function randomUnicode(rand, n) {
  let s = '';
  for (let i = 0; i < n; ++i) {
    const [lo, hi] = pick(rand, blocks);
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return s;
}

function handPicked() {
  const out = ['', ' ', '  ', '\n', '\r\n', '\t', 'a', 'A', '1', '12', '123', '1234', '1234567890123456789012345',
    '9'.repeat(100), ' '.repeat(50), '\n'.repeat(20), '\r\n'.repeat(10), ' \t\n\r\n \t', 'a'.repeat(500),
    'ab'.repeat(300), 'Supercalifragilisticexpialidocious'.repeat(20), '你'.repeat(200), '😀'.repeat(100),
    "I'm", "I'M", "it's", "IT'S", "you'll", "'s", "'", "''", "'''s", "don’t", "x'ſ", "x'ſtop", "IT'ſt OK", "they're're",
    'Hello, world!', ' Hello', 'Hello ', '  Hello  world  ', 'hello\nworld', 'hello\r\nworld', 'hello\n\nworld',
    'a  b   c    d', 'a\t\tb', 'end.\n', '...', '?!?!', '!!!!!!', '----', '====', '____', '****', '~~~~',
    '<｜User｜>hi<｜Assistant｜>', '<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n',
    '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>',
    '<think>\nreasoning\n</think>\n\nanswer', 'x<think>y</think>z', '<<｜User｜>>', '<｜User｜><｜User｜>', '<|im_end|><|im_end|>',
    'price: $1,234.56 (-7.5%)', 'v1.2.3-rc.4+build.5', 'user@example.com', 'https://example.com/a?b=c&d=e#f',
    'C:\\Users\\name\\file.txt', '/usr/local/bin', 'e\u0301', 'ﬁ', 'Ａｂｃ１２３', '\u00a0\u00a0', '\u3000x',
    'x\u200by', '\ufeffBOM', 'a\u0085b', 'tab\tend\t', '  \n  ', '\n \n', 'ǅungla', 'ß', 'ŉ', 'İi̇', 'ΐ',
    '𝒜𝒷𝒸', '🏳️‍🌈🏳️‍⚧️', '👩🏽‍❤️‍💋‍👨🏿', '🇬🇧🇫🇷🇩🇪', '1️⃣2️⃣3️⃣', '日本語のテキストと English mixed 한국어 123',
    '٠١٢٣٤٥٦٧٨٩', '〇一二三', 'Ⅰ Ⅱ Ⅲ', '¼ ½ ¾', '²³¹', '₀₁₂', 'x²+y²=z²', '∀x∈ℝ: x²≥0', '→←↑↓', '█▓▒░'];
  for (const list of Object.values(words)) out.push(...list);
  return out;
}

export function makeCorpus(seed = 20240531, count = 6000) {
  const rand = mulberry32(seed);
  const corpus = handPicked();
  const kinds = Object.keys(words);
  while (corpus.length < count) {
    const r = rand();
    let s = '';
    if (r < 0.06) {
      s = randomUnicode(rand, 1 + Math.floor(rand() * 40));
    } else if (r < 0.1) {
      // One long run: digits, a letter, spaces or a word with no break.
      const unit = pick(rand, ['7', '31', 'x', 'ab', ' ', '\n', '\t', '中', 'é', '=', '😀', ' a']);
      s = unit.repeat(1 + Math.floor(rand() * 400));
    } else {
      const n = 1 + Math.floor(rand() * 25);
      const mono = rand() < 0.4 ? pick(rand, kinds) : null;
      for (let i = 0; i < n; ++i) {
        const kind = mono && rand() < 0.7 ? mono : pick(rand, kinds);
        s += pick(rand, words[kind]);
        const sep = rand();
        if (sep < 0.55) s += ' ';
        else if (sep < 0.65) s += pick(rand, words.space);
        else if (sep < 0.75) s += pick(rand, words.punct);
        else if (sep < 0.8) s += randomUnicode(rand, 1);
      }
      if (rand() < 0.15) s = s.toUpperCase();
      if (rand() < 0.1) s = pick(rand, words.space) + s;
    }
    corpus.push(s);
  }
  return corpus;
}
