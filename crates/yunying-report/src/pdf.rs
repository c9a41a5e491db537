//! The report as an A4 PDF: laid out into pages of drawing operations
//! first (so every footer can say how many pages there are), then drawn
//! with krilla.

use std::collections::HashMap;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::text::{GlyphId, KrillaGlyph};
use skrifa::MetadataProvider;
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size as FontSize};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::TableProvider;

use crate::check::is_date;
use crate::{Fonts, ImageRef, ReportError, ReportInput, ReportUids, dcm};

/// A4 in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 56.0;
const TOP: f32 = 46.0;
/// Where the body stops; the footer is below.
const BODY_BOTTOM: f32 = PAGE_H - 80.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;

const BODY_SIZE: f32 = 10.5;
const BODY_LINE: f32 = 17.5;
const INFO_SIZE: f32 = 9.5;
const INFO_LINE: f32 = 15.0;

type Rgb = (u8, u8, u8);
const BLACK: Rgb = (0, 0, 0);
const GRAY: Rgb = (96, 96, 96);
const LIGHT: Rgb = (232, 236, 240);
const ACCENT: Rgb = (24, 78, 140);
const RED: Rgb = (200, 16, 32);
const WHITE: Rgb = (255, 255, 255);

pub(crate) struct Rendered {
    pub bytes: Vec<u8>,
    pub pages: usize,
}

#[derive(Clone, Copy)]
struct Style {
    size: f32,
    bold: bool,
    color: Rgb,
}

const fn style(size: f32, bold: bool, color: Rgb) -> Style {
    Style { size, bold, color }
}

enum Op {
    /// Text whose baseline starts at (x, y).
    Text {
        x: f32,
        y: f32,
        text: String,
        style: Style,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        color: Rgb,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Rgb>,
        stroke: Option<(Rgb, f32)>,
    },
}

/// Glyph ids and advances from the font's cmap and hmtx.
struct Shaper<'a> {
    cmap: Charmap<'a>,
    metrics: GlyphMetrics<'a>,
    units_per_em: f32,
    cache: HashMap<char, (u32, f32)>,
}

impl<'a> Shaper<'a> {
    fn new(font: &skrifa::FontRef<'a>) -> Shaper<'a> {
        let units_per_em = font.head().map(|h| f32::from(h.units_per_em())).unwrap_or(1000.0);
        Shaper {
            cmap: font.charmap(),
            metrics: font.glyph_metrics(FontSize::unscaled(), LocationRef::default()),
            units_per_em,
            cache: HashMap::new(),
        }
    }

    /// The glyph of `c` and its advance in ems.
    fn glyph(&mut self, c: char) -> (u32, f32) {
        if let Some(g) = self.cache.get(&c) {
            return *g;
        }
        let gid = self.cmap.map(c).unwrap_or_default();
        let advance = self.metrics.advance_width(gid).unwrap_or(0.0) / self.units_per_em;
        let g = (gid.to_u32(), advance);
        self.cache.insert(c, g);
        g
    }

    fn width(&mut self, s: &str, size: f32) -> f32 {
        s.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// Breaks `text` into lines no wider than `width`: at newlines (LF, CR
    /// LF, CR), at any CJK character (never before closing or after opening
    /// punctuation), at spaces between Latin words, and inside a word wider
    /// than a line. Tabs are four spaces.
    fn wrap(&mut self, text: &str, size: f32, width: f32) -> Vec<String> {
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n").replace('\t', "    ");
        let mut lines = Vec::new();
        for para in normalized.split('\n') {
            let mut line = String::new();
            let mut line_w = 0.0;
            let mut started = false;
            for token in tokens(para) {
                let w = self.width(&token.text, size);
                if line_w + w <= width + 0.01 {
                    if !(token.space && line.is_empty() && started) {
                        line.push_str(&token.text);
                        line_w += w;
                    }
                    continue;
                }
                if token.space {
                    lines.push(std::mem::take(&mut line).trim_end().to_string());
                    line_w = 0.0;
                    started = true;
                    continue;
                }
                if w > width {
                    // A word wider than a line: break it between characters.
                    for c in token.text.chars() {
                        let cw = self.glyph(c).1 * size;
                        if line_w + cw > width + 0.01 && !line.is_empty() {
                            lines.push(std::mem::take(&mut line).trim_end().to_string());
                            line_w = 0.0;
                            started = true;
                        }
                        line.push(c);
                        line_w += cw;
                    }
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line).trim_end().to_string());
                    started = true;
                }
                line = token.text;
                line_w = w;
            }
            if !line.is_empty() || !started {
                lines.push(line.trim_end().to_string());
            }
        }
        lines
    }
}

struct Token {
    text: String,
    space: bool,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// Punctuation a line may not start with.
fn is_closing(c: char) -> bool {
    "，。、；：？！）》」』】〕〉〗”’…·％‰°℃".contains(c)
}

/// Punctuation a line may not end with.
fn is_opening(c: char) -> bool {
    "（《「『【〔〈〖“‘".contains(c)
}

/// The units between which a line may break.
fn tokens(para: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    // The last token is an opening punctuation waiting for what follows it.
    let mut glue_next = false;
    // The last token is a Latin word that may grow.
    let mut in_word = false;
    for c in para.chars() {
        if c == ' ' {
            match out.last_mut() {
                Some(t) if t.space => t.text.push(c),
                _ => out.push(Token { text: c.to_string(), space: true }),
            }
            glue_next = false;
            in_word = false;
            continue;
        }
        let last_is_text = out.last().is_some_and(|t| !t.space);
        if glue_next || (is_closing(c) && last_is_text) {
            out.last_mut().expect("a token before").text.push(c);
            glue_next = is_opening(c);
            in_word = !is_cjk(c) && !is_closing(c) && !is_opening(c);
            continue;
        }
        if is_opening(c) {
            out.push(Token { text: c.to_string(), space: false });
            glue_next = true;
            in_word = false;
        } else if is_cjk(c) {
            out.push(Token { text: c.to_string(), space: false });
            in_word = false;
        } else if in_word {
            out.last_mut().expect("a word").text.push(c);
        } else {
            out.push(Token { text: c.to_string(), space: false });
            in_word = true;
        }
    }
    out
}

struct Layout<'a> {
    shaper: Shaper<'a>,
    pages: Vec<Vec<Op>>,
    y: f32,
    continued: String,
}

impl Layout<'_> {
    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page")
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
        if self.pages.len() > 1 {
            let s = style(8.0, false, GRAY);
            let text = self.continued.clone();
            let lines = self.shaper.wrap(&text, s.size, CONTENT_W);
            for line in lines.into_iter().take(2) {
                self.text(MARGIN_X, line, s);
                self.y += 12.0;
            }
            self.rule(0.5, GRAY);
            self.y += 8.0;
        }
    }

    /// Starts a new page unless `h` more points fit on this one.
    fn need(&mut self, h: f32) {
        if self.y + h > BODY_BOTTOM {
            self.new_page();
        }
    }

    /// Text with its top at the current y.
    fn text(&mut self, x: f32, text: String, s: Style) {
        let y = self.y + s.size * 0.88;
        self.ops().push(Op::Text { x, y, text, style: s });
    }

    fn rule(&mut self, width: f32, color: Rgb) {
        let y = self.y;
        self.ops().push(Op::Line { x1: MARGIN_X, y1: y, x2: PAGE_W - MARGIN_X, y2: y, width, color });
    }

    fn centered(&mut self, text: &str, s: Style) {
        for line in self.shaper.wrap(text, s.size, CONTENT_W) {
            let w = self.shaper.width(&line, s.size);
            self.text(MARGIN_X + (CONTENT_W - w) / 2.0, line, s);
            self.y += s.size * 1.45;
        }
    }

    /// Wrapped text flowing over pages.
    fn paragraph(&mut self, text: &str, x: f32, width: f32, s: Style, line_h: f32) {
        for line in self.shaper.wrap(text, s.size, width) {
            self.need(line_h);
            if !line.is_empty() {
                self.text(x, line, s);
            }
            self.y += line_h;
        }
    }

    fn heading(&mut self, title: &str) {
        self.need(22.0 + 2.0 * BODY_LINE);
        self.y += 6.0;
        let y = self.y;
        self.ops().push(Op::Rect { x: MARGIN_X, y: y + 1.0, w: 3.0, h: 12.0, fill: Some(ACCENT), stroke: None });
        self.text(MARGIN_X + 9.0, title.to_string(), style(12.0, true, ACCENT));
        self.y += 20.0;
    }

    /// Label-value cells in columns; a row is as tall as its tallest cell.
    fn grid(&mut self, cells: &[(&str, String)], columns: usize) {
        let col_w = CONTENT_W / columns as f32;
        for row in cells.chunks(columns) {
            let mut wrapped = Vec::new();
            for (label, value) in row {
                let label_w = self.shaper.width(label, INFO_SIZE);
                let lines = self.shaper.wrap(value, INFO_SIZE, (col_w - label_w - 8.0).max(40.0));
                wrapped.push((label_w, lines));
            }
            let rows = wrapped.iter().map(|(_, l)| l.len()).max().unwrap_or(1).max(1);
            self.need(rows as f32 * INFO_LINE);
            let top = self.y;
            for (i, ((label, _), (label_w, lines))) in row.iter().zip(wrapped).enumerate() {
                let x = MARGIN_X + i as f32 * col_w;
                self.y = top;
                self.text(x, label.to_string(), style(INFO_SIZE, false, GRAY));
                for line in lines {
                    self.text(x + label_w, line, style(INFO_SIZE, false, BLACK));
                    self.y += INFO_LINE;
                }
            }
            self.y = top + rows as f32 * INFO_LINE;
        }
    }

    /// A full-width label and wrapped value.
    fn field(&mut self, label: &str, value: &str) {
        let label_w = self.shaper.width(label, INFO_SIZE);
        let lines = self.shaper.wrap(value, INFO_SIZE, CONTENT_W - label_w);
        self.need(INFO_LINE);
        self.text(MARGIN_X, label.to_string(), style(INFO_SIZE, false, GRAY));
        for line in lines {
            self.need(INFO_LINE);
            self.text(MARGIN_X + label_w, line, style(INFO_SIZE, false, BLACK));
            self.y += INFO_LINE;
        }
    }

    /// A table with a shaded header row, repeated on each page it spans.
    fn table(&mut self, header: &[&str], widths: &[f32], rows: &[Vec<String>]) {
        let size = 9.5;
        let line_h = 14.0;
        let pad = 4.0;
        let header_h = line_h + 2.0 * pad;
        self.need(header_h + line_h + 2.0 * pad);
        self.table_header(header, widths, header_h, pad, size);
        for row in rows {
            let cells: Vec<Vec<String>> = row.iter().zip(widths).map(|(c, w)| self.shaper.wrap(c, size, w - 2.0 * pad)).collect();
            let n = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let h = n as f32 * line_h + 2.0 * pad;
            if self.y + h > BODY_BOTTOM {
                self.new_page();
                self.table_header(header, widths, header_h, pad, size);
            }
            let top = self.y;
            let mut x = MARGIN_X;
            for (lines, w) in cells.into_iter().zip(widths) {
                self.y = top + pad;
                for line in lines {
                    self.text(x + pad, line, style(size, false, BLACK));
                    self.y += line_h;
                }
                x += w;
            }
            self.y = top + h;
            let y = self.y;
            self.ops().push(Op::Line { x1: MARGIN_X, y1: y, x2: MARGIN_X + CONTENT_W, y2: y, width: 0.4, color: GRAY });
        }
        self.y += 4.0;
    }

    fn table_header(&mut self, header: &[&str], widths: &[f32], h: f32, pad: f32, size: f32) {
        let top = self.y;
        self.ops().push(Op::Rect { x: MARGIN_X, y: top, w: CONTENT_W, h, fill: Some(LIGHT), stroke: None });
        let mut x = MARGIN_X;
        for (title, w) in header.iter().zip(widths) {
            self.y = top + pad;
            self.text(x + pad, title.to_string(), style(size, true, BLACK));
            x += w;
        }
        self.y = top + h;
    }

    /// A red box saying 危急值, with a line of text.
    fn critical_banner(&mut self) {
        let h = 28.0;
        self.need(h + 8.0);
        self.y += 4.0;
        let top = self.y;
        self.ops().push(Op::Rect { x: MARGIN_X, y: top, w: CONTENT_W, h, fill: Some((253, 236, 236)), stroke: Some((RED, 1.2)) });
        self.y = top + 7.0;
        self.text(MARGIN_X + 10.0, "危急值".to_string(), style(13.0, true, RED));
        let w = self.shaper.width("危急值", 13.0);
        self.y = top + 9.0;
        self.text(MARGIN_X + 22.0 + w, "本报告含危急值，请临床立即处理。".to_string(), style(BODY_SIZE, false, RED));
        self.y = top + h + 6.0;
    }
}

/// The name to print from a PN value: the ideographic group when there is
/// one, else the alphabetic; CJK components run together, others are
/// separated by spaces.
pub(crate) fn display_name(pn: &str) -> String {
    let groups: Vec<&str> = pn.split('=').collect();
    let chosen = match groups.get(1) {
        Some(g) if !g.trim_matches('^').trim().is_empty() => g,
        _ => groups[0],
    };
    let parts: Vec<&str> = chosen.split('^').map(str::trim).filter(|p| !p.is_empty()).collect();
    let cjk = parts.iter().all(|p| p.chars().all(|c| is_cjk(c) || c == '·'));
    parts.join(if cjk { "" } else { " " })
}

fn display_date(da: &str) -> String {
    if is_date(da) { format!("{}-{}-{}", &da[0..4], &da[4..6], &da[6..8]) } else { da.to_string() }
}

fn sex(cs: &str) -> String {
    match cs {
        "M" => "男".into(),
        "F" => "女".into(),
        "O" => "其他".into(),
        other => other.into(),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Age at `on` (both YYYYMMDD): years, or months under a year, or days under a month.
pub(crate) fn age(birth: &str, on: &str) -> Option<String> {
    if !is_date(birth) || !is_date(on) {
        return None;
    }
    let p = |s: &str| -> (i64, i64, i64) { (s[0..4].parse().unwrap_or(0), s[4..6].parse().unwrap_or(0), s[6..8].parse().unwrap_or(0)) };
    let (by, bm, bd) = p(birth);
    let (y, m, d) = p(on);
    if (y, m, d) < (by, bm, bd) {
        return None;
    }
    let years = y - by - i64::from((m, d) < (bm, bd));
    if years >= 1 {
        return Some(format!("{years}岁"));
    }
    let months = (y * 12 + m) - (by * 12 + bm) - i64::from(d < bd);
    if months >= 1 {
        return Some(format!("{months}月"));
    }
    Some(format!("{}天", days(y, m, d) - days(by, bm, bd)))
}

pub(crate) fn unit_display(ucum: &str) -> &str {
    match ucum {
        "[hnsf'U]" => "HU",
        "mm2" => "mm²",
        "cm2" => "cm²",
        "m2" => "m²",
        "mm3" => "mm³",
        "cm3" => "cm³",
        "m3" => "m³",
        "um" => "µm",
        "1" => "",
        other => other,
    }
}

fn image_label(img: &ImageRef, key_images: &[ImageRef]) -> String {
    let frame = img.frame.map(|f| format!(" 第{f}帧")).unwrap_or_default();
    match key_images.iter().position(|k| k.sop_instance_uid == img.sop_instance_uid && k.frame == img.frame) {
        Some(i) => format!("关键图像 {}", i + 1),
        None => {
            let uid = &img.sop_instance_uid;
            let tail = &uid[uid.len().saturating_sub(8)..];
            format!("图像 …{tail}{frame}")
        }
    }
}

pub(crate) fn render(input: &ReportInput, uids: &ReportUids, fonts: &Fonts) -> Result<Rendered, ReportError> {
    let font_ref = fonts.font_ref();
    let s = &input.study;
    let name = display_name(&s.patient_name);
    let mut l = Layout {
        shaper: Shaper::new(&font_ref),
        pages: Vec::new(),
        y: TOP,
        continued: format!(
            "{} 影像诊断报告（续）  姓名 {}  患者ID {}  检查号 {}",
            input.reading_institution, name, s.patient_id, s.accession_number
        ),
    };
    l.new_page();

    // Header.
    l.centered(&input.reading_institution, style(15.0, true, BLACK));
    l.y += 2.0;
    let title_top = l.y;
    l.centered("影像诊断报告", style(20.0, true, BLACK));
    if input.critical {
        let (w, h) = (64.0, 24.0);
        let x = PAGE_W - MARGIN_X - w;
        l.ops().push(Op::Rect { x, y: title_top - 1.0, w, h, fill: Some(RED), stroke: None });
        let tw = l.shaper.width("危急值", 14.0);
        let saved = l.y;
        l.y = title_top + 4.0;
        l.text(x + (w - tw) / 2.0, "危急值".to_string(), style(14.0, true, WHITE));
        l.y = saved;
    }
    if input.version > 1 {
        l.centered(&format!("修订报告 · 第{}版", input.version), style(10.0, false, RED));
    }
    l.y += 4.0;
    l.rule(1.2, BLACK);
    l.y += 8.0;

    // The patient and the study.
    let birth = display_date(&s.patient_birth_date);
    let on = if is_date(&s.study_date) { s.study_date.as_str() } else { input.signed_at.date.as_str() };
    let age_text = match age(&s.patient_birth_date, on) {
        Some(a) => format!("{a}（{birth}）"),
        None => birth,
    };
    let exam = if input.body_part.is_empty() { input.modality.clone() } else { format!("{} / {}", input.modality, input.body_part) };
    let cells = vec![
        ("姓名：", name.clone()),
        ("性别：", sex(&s.patient_sex)),
        ("年龄：", age_text),
        ("患者ID：", s.patient_id.clone()),
        ("检查号：", s.accession_number.clone()),
        ("检查日期：", display_date(&s.study_date)),
        ("检查类型：", exam),
        ("申请单位：", input.requesting_institution.clone()),
        ("报告模板：", input.template_name.clone()),
    ];
    l.grid(&cells, 3);
    if !s.study_description.is_empty() {
        l.field("检查描述：", &s.study_description);
    }
    if !input.clinical_info.is_empty() {
        l.field("临床信息：", &input.clinical_info);
    }
    l.y += 4.0;
    l.rule(0.6, GRAY);
    l.y += 4.0;

    // 影像所见.
    let body = style(BODY_SIZE, false, BLACK);
    l.heading("影像所见");
    l.paragraph(if input.findings.is_empty() { "（无）" } else { &input.findings }, MARGIN_X, CONTENT_W, body, BODY_LINE);

    if !input.measurements.is_empty() {
        l.heading("测量");
        let widths = [34.0, CONTENT_W - 34.0 - 86.0 - 56.0 - 120.0, 86.0, 56.0, 120.0];
        let rows: Vec<Vec<String>> = input
            .measurements
            .iter()
            .enumerate()
            .map(|(i, m)| {
                vec![
                    (i + 1).to_string(),
                    m.label.clone(),
                    dcm::ds(m.value),
                    unit_display(&m.unit).to_string(),
                    m.image.as_ref().map(|img| image_label(img, &input.key_images)).unwrap_or_else(|| "—".into()),
                ]
            })
            .collect();
        l.table(&["序号", "项目", "数值", "单位", "测量图像"], &widths, &rows);
    }
    if !input.key_images.is_empty() {
        l.y += 4.0;
        l.paragraph(
            &format!("关键图像：{} 幅（见本检查的关键图像选择文档）", input.key_images.len()),
            MARGIN_X,
            CONTENT_W,
            style(INFO_SIZE, false, GRAY),
            INFO_LINE,
        );
    }

    // 诊断意见.
    if input.critical {
        l.critical_banner();
    }
    l.heading("诊断意见");
    l.paragraph(if input.impression.is_empty() { "（无）" } else { &input.impression }, MARGIN_X, CONTENT_W, body, BODY_LINE);

    if input.version > 1 {
        l.heading("修订说明");
        l.paragraph(
            &format!("本报告为第{}版，替代此前签发的报告。修订原因：{}", input.version, input.amend_reason),
            MARGIN_X,
            CONTENT_W,
            body,
            BODY_LINE,
        );
    }

    // Sign-off.
    l.need(2.0 * INFO_LINE + 20.0);
    l.y += 12.0;
    l.rule(0.6, GRAY);
    l.y += 8.0;
    let t = &input.signed_at;
    let signed = format!(
        "{} {}:{}:{} {}:{}",
        display_date(&t.date),
        &t.time[0..2],
        &t.time[2..4],
        &t.time[4..6],
        &t.tz_offset[0..3],
        &t.tz_offset[3..5]
    );
    let verifier = input.verifier.as_ref().map(|v| display_name(&v.name)).unwrap_or_else(|| "—".into());
    l.grid(
        &[
            ("报告医师：", display_name(&input.author.name)),
            ("审核医师：", verifier),
            ("签发时间：", signed),
            ("诊断单位：", input.reading_institution.clone()),
        ],
        2,
    );

    // Footers, now that the pages are counted.
    let total = l.pages.len();
    let sig_text = match &input.signature {
        Some(sig) => format!("电子签名：{} · 密钥：{} · 申请单号：{}", sig.algorithm, sig.key_id, input.request_id),
        None => format!("电子签名：未签名 · 申请单号：{}", input.request_id),
    };
    let digest_text = input.signature.as_ref().map(|sig| format!("内容摘要：{}", sig.content_digest_hex));
    let small = style(7.0, false, GRAY);
    for n in 1..=total {
        let mut footer = Vec::new();
        let y0 = PAGE_H - 66.0;
        footer.push(Op::Line { x1: MARGIN_X, y1: y0, x2: PAGE_W - MARGIN_X, y2: y0, width: 0.5, color: GRAY });
        let page_text = format!("第 {n} 页 共 {total} 页");
        let pw = l.shaper.width(&page_text, 8.0);
        footer.push(Op::Text { x: PAGE_W - MARGIN_X - pw, y: y0 + 12.0, text: page_text, style: style(8.0, false, BLACK) });
        let mut lines = l.shaper.wrap(&sig_text, small.size, CONTENT_W - pw - 12.0);
        if let Some(d) = &digest_text {
            lines.extend(l.shaper.wrap(d, small.size, CONTENT_W - pw - 12.0));
        }
        for (i, line) in lines.into_iter().take(5).enumerate() {
            footer.push(Op::Text { x: MARGIN_X, y: y0 + 11.0 + i as f32 * 9.0, text: line, style: small });
        }
        l.pages[n - 1].extend(footer);
    }

    let bytes = draw(&l, fonts, input, uids)?;
    Ok(Rendered { bytes, pages: total })
}

fn color(c: Rgb) -> krilla::paint::Paint {
    rgb::Color::new(c.0, c.1, c.2).into()
}

fn draw(l: &Layout<'_>, fonts: &Fonts, input: &ReportInput, uids: &ReportUids) -> Result<Vec<u8>, ReportError> {
    let mut doc = Document::new();
    let mut shaper = Shaper::new(&fonts.font_ref());
    let size = Size::from_wh(PAGE_W, PAGE_H).expect("A4");
    for ops in &l.pages {
        let mut page = doc.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text { x, y, text, style } => {
                    let mut glyphs = Vec::with_capacity(text.len());
                    for (i, c) in text.char_indices() {
                        let (gid, advance) = shaper.glyph(c);
                        glyphs.push(KrillaGlyph::new(GlyphId::new(gid), advance, 0.0, 0.0, 0.0, i..i + c.len_utf8(), None));
                    }
                    surface.set_fill(Some(Fill { paint: color(style.color), opacity: NormalizedF32::ONE, rule: FillRule::NonZero }));
                    // Bold: the regular face filled and stroked thinly.
                    surface.set_stroke(style.bold.then(|| Stroke {
                        paint: color(style.color),
                        width: style.size * 0.035,
                        ..Stroke::default()
                    }));
                    surface.draw_glyphs(Point::from_xy(*x, *y), &glyphs, fonts.font.clone(), text, style.size, false);
                }
                Op::Line { x1, y1, x2, y2, width, color: c } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke { paint: color(*c), width: *width, ..Stroke::default() }));
                        surface.draw_path(&path);
                    }
                }
                Op::Rect { x, y, w, h, fill, stroke } => {
                    let mut pb = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(rect);
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_fill(fill.map(|c| Fill { paint: color(c), opacity: NormalizedF32::ONE, rule: FillRule::NonZero }));
                        surface.set_stroke(stroke.map(|(c, w)| Stroke { paint: color(c), width: w, ..Stroke::default() }));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    let t = &input.signed_at;
    let num = |s: &str| s.parse::<u8>().unwrap_or(0);
    let tz_sign: i8 = if t.tz_offset.starts_with('-') { -1 } else { 1 };
    let created = DateTime::new(t.date[0..4].parse().unwrap_or(1970))
        .month(num(&t.date[4..6]))
        .day(num(&t.date[6..8]))
        .hour(num(&t.time[0..2]))
        .minute(num(&t.time[2..4]))
        .second(num(&t.time[4..6]))
        .utc_offset_hour(tz_sign * num(&t.tz_offset[1..3]) as i8)
        .utc_offset_minute(num(&t.tz_offset[3..5]));
    doc.set_metadata(
        Metadata::new()
            .title(format!("影像诊断报告 {}", display_name(&input.study.patient_name)))
            .language("zh-CN".into())
            .creator("Yunying".into())
            .authors(vec![display_name(&input.author.name)])
            .document_id(uids.pdf_sop_instance_uid.clone())
            .creation_date(created),
    );
    doc.finish().map_err(|e| ReportError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefer_the_ideographic_group() {
        assert_eq!(display_name("Zhang^San=张^三"), "张三");
        assert_eq!(display_name("Zhang^San"), "Zhang San");
        assert_eq!(display_name("Zhang^San="), "Zhang San");
        assert_eq!(display_name("李医生"), "李医生");
        assert_eq!(display_name("=欧阳^娜娜=ōu yáng^nà nà"), "欧阳娜娜");
    }

    #[test]
    fn ages() {
        assert_eq!(age("19790302", "20240501").as_deref(), Some("45岁"));
        assert_eq!(age("19790502", "20240501").as_deref(), Some("44岁"));
        assert_eq!(age("20240115", "20240501").as_deref(), Some("3月"));
        assert_eq!(age("20240420", "20240501").as_deref(), Some("11天"));
        assert_eq!(age("20250101", "20240501"), None);
        assert_eq!(age("", "20240501"), None);
    }

    #[test]
    fn tokens_keep_punctuation_with_its_neighbour() {
        let t: Vec<String> = tokens("右肺（上叶）结节，大小 12.5mm。").into_iter().map(|t| t.text).collect();
        assert_eq!(t, ["右", "肺", "（上", "叶）", "结", "节，", "大", "小", " ", "12.5mm。"]);
        let t: Vec<String> = tokens("时间（UTC+08:00）").into_iter().map(|t| t.text).collect();
        assert_eq!(t, ["时", "间", "（UTC+08:00）"]);
    }
}
