// Labels in Chinese (zh-CN, the default for a zh browser) and English.

const zh = {
  title: '云影 影像浏览',
  worklist: '检查列表',
  patientName: '姓名（拼音或汉字）',
  patientId: '患者 ID',
  accession: '检查号',
  dateFrom: '检查日期从',
  dateTo: '至',
  modality: '设备',
  institution: '机构',
  any: '全部',
  search: '查询',
  clear: '清空',
  colName: '姓名',
  colId: '患者 ID',
  colBirth: '出生日期',
  colDate: '检查日期',
  colDescription: '检查描述',
  colModalities: '设备',
  colAccession: '检查号',
  colInstitution: '机构',
  colSeries: '序列',
  colInstances: '图像',
  previous: '上一页',
  next: '下一页',
  page: '第 {n} 页',
  results: '{n} 条',
  noResults: '没有符合条件的检查',
  loading: '加载中…',
  back: '返回列表',
  series: '序列',
  priors: '既往检查',
  noPriors: '没有既往检查',
  compare: '对比',
  otherInstitution: '其他机构（姓名与出生日期相同）',
  layout: '布局',
  sync: '同步翻页',
  invert: '反色',
  reset: '复位',
  cine: '电影',
  presets: '窗宽窗位',
  presetDefault: '默认',
  presetSoft: '软组织',
  presetLung: '肺窗',
  presetBone: '骨窗',
  presetBrain: '脑窗',
  toolWindow: '窗宽窗位',
  toolPan: '平移',
  toolZoom: '缩放',
  toolScroll: '翻页',
  toolLength: '长度',
  toolAngle: '角度',
  toolRect: '矩形 ROI',
  toolEllipse: '椭圆 ROI',
  shortcuts: '快捷键：↑↓ 翻页 · W 窗位 · P 平移 · Z 缩放 · L 长度 · A 角度 · R 复位 · I 反色 · C 电影 · 1–5 预设',
  error: '出错：{m}',
  language: 'English',
  tokenPrompt: '此服务器需要访问令牌（bearer token）：',
} as const;

type Key = keyof typeof zh;

const en: Record<Key, string> = {
  title: 'Yunying viewer',
  worklist: 'Worklist',
  patientName: 'Name (Pinyin or Hanzi)',
  patientId: 'Patient ID',
  accession: 'Accession',
  dateFrom: 'Study date from',
  dateTo: 'to',
  modality: 'Modality',
  institution: 'Institution',
  any: 'Any',
  search: 'Search',
  clear: 'Clear',
  colName: 'Name',
  colId: 'Patient ID',
  colBirth: 'Birth date',
  colDate: 'Study date',
  colDescription: 'Description',
  colModalities: 'Modalities',
  colAccession: 'Accession',
  colInstitution: 'Institution',
  colSeries: 'Series',
  colInstances: 'Images',
  previous: 'Previous',
  next: 'Next',
  page: 'Page {n}',
  results: '{n} studies',
  noResults: 'No study matches',
  loading: 'Loading…',
  back: 'Back to worklist',
  series: 'Series',
  priors: 'Prior studies',
  noPriors: 'No prior studies',
  compare: 'Compare',
  otherInstitution: 'other institution (same name and birth date)',
  layout: 'Layout',
  sync: 'Sync scroll',
  invert: 'Invert',
  reset: 'Reset',
  cine: 'Cine',
  presets: 'Window',
  presetDefault: 'Default',
  presetSoft: 'Soft tissue',
  presetLung: 'Lung',
  presetBone: 'Bone',
  presetBrain: 'Brain',
  toolWindow: 'Window/level',
  toolPan: 'Pan',
  toolZoom: 'Zoom',
  toolScroll: 'Scroll',
  toolLength: 'Length',
  toolAngle: 'Angle',
  toolRect: 'Rectangle ROI',
  toolEllipse: 'Ellipse ROI',
  shortcuts: 'Keys: ↑↓ scroll · W window · P pan · Z zoom · L length · A angle · R reset · I invert · C cine · 1–5 presets',
  error: 'Error: {m}',
  language: '中文',
  tokenPrompt: 'This server needs an access token (bearer token):',
};

function initialLanguage(): 'zh' | 'en' {
  const asked = new URLSearchParams(location.search).get('lang') ?? localStorage.getItem('yunying.lang');
  if (asked === 'zh' || asked === 'en') return asked;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let language = initialLanguage();

export function lang(): 'zh' | 'en' {
  return language;
}

export function setLang(l: 'zh' | 'en'): void {
  language = l;
  localStorage.setItem('yunying.lang', l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}

export function t(key: Key, vars: Record<string, string | number> = {}): string {
  let s: string = (language === 'zh' ? zh : en)[key];
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}
