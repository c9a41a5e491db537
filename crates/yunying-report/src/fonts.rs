//! The CJK font the PDF is drawn with, loaded once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skrifa::raw::{FileRef, TableProvider};
use skrifa::string::StringId;
use skrifa::{FontRef, MetadataProvider};

use crate::ReportError;

/// Where [`Fonts::find_system`] looks, in order:
///
/// 1. Debian/Ubuntu `fonts-noto-cjk` (Noto Sans CJK, CFF outlines, a TTC:
///    the SC face is picked by name),
/// 2. `fonts-wqy-microhei` (TrueType),
/// 3. `fonts-wqy-zenhei`,
/// 4. Noto Sans CJK where Fedora (`google-noto-sans-cjk-fonts`) and Arch
///    (`noto-fonts-cjk`) put it,
/// 5. Debian's Noto Serif CJK (also in `fonts-noto-cjk`), should the sans
///    face be missing.
pub const SYSTEM_FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
];

/// Characters a font must have to draw a report.
const REQUIRED: &str = "影像诊断报告危急值所见意见第页共姓名性别年龄检查";

/// A font for the PDF: read and checked once, shared by every render (cheap
/// to clone). The PDF embeds only the glyphs a report uses.
#[derive(Clone)]
pub struct Fonts {
    pub(crate) font: krilla::text::Font,
    pub(crate) data: Arc<Vec<u8>>,
    pub(crate) index: u32,
    path: PathBuf,
    family: String,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").field("path", &self.path).field("index", &self.index).field("family", &self.family).finish()
    }
}

impl Fonts {
    /// Loads a TrueType or OpenType font (CFF or TrueType outlines), or a
    /// collection (`.ttc`): from a collection, the face whose family name
    /// is Simplified Chinese (ends in " SC", not a monospaced face) if there
    /// is one, else the first face with the Chinese glyphs a report needs.
    pub fn load(path: &Path) -> Result<Fonts, ReportError> {
        let fail = |reason: String| ReportError::Font { path: path.to_path_buf(), reason };
        let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let data = Arc::new(data);
        let (index, family) = pick_face(&data).map_err(fail)?;
        let font = krilla::text::Font::new(krilla::Data::from(data.clone()), index)
            .ok_or_else(|| fail(format!("face {index} cannot be read for PDF output")))?;
        Ok(Fonts { font, data, index, path: path.to_path_buf(), family })
    }

    /// Loads the first usable font of [`SYSTEM_FONT_PATHS`].
    pub fn find_system() -> Result<Fonts, ReportError> {
        let mut tried = Vec::new();
        for p in SYSTEM_FONT_PATHS {
            let path = Path::new(p);
            if !path.exists() {
                tried.push(format!("{p}: absent"));
                continue;
            }
            match Fonts::load(path) {
                Ok(f) => return Ok(f),
                Err(e) => tried.push(e.to_string()),
            }
        }
        Err(ReportError::NoSystemFont { tried })
    }

    /// The file the font was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chosen face's family name, e.g. "Noto Sans CJK SC".
    pub fn family(&self) -> &str {
        &self.family
    }

    pub(crate) fn font_ref(&self) -> FontRef<'_> {
        FontRef::from_index(&self.data, self.index).expect("checked at load")
    }
}

fn family_name(font: &FontRef<'_>) -> String {
    for id in [StringId::TYPOGRAPHIC_FAMILY_NAME, StringId::FAMILY_NAME] {
        if let Some(s) = font.localized_strings(id).english_or_first() {
            return s.chars().collect();
        }
    }
    String::new()
}

fn has_required(font: &FontRef<'_>) -> bool {
    let cmap = font.charmap();
    font.hmtx().is_ok() && REQUIRED.chars().all(|c| cmap.map(c).is_some_and(|g| g.to_u32() != 0))
}

fn pick_face(data: &[u8]) -> Result<(u32, String), String> {
    let file = FileRef::new(data).map_err(|e| format!("not a font: {e}"))?;
    let faces: Vec<(u32, FontRef<'_>)> = match file {
        FileRef::Font(f) => vec![(0, f)],
        FileRef::Collection(c) => (0..c.len()).filter_map(|i| c.get(i).ok().map(|f| (i, f))).collect(),
    };
    let usable: Vec<(u32, String)> = faces.iter().filter(|(_, f)| has_required(f)).map(|(i, f)| (*i, family_name(f))).collect();
    if let Some((i, name)) = usable.iter().find(|(_, n)| n.ends_with(" SC") && !n.contains("Mono")) {
        return Ok((*i, name.clone()));
    }
    usable.into_iter().next().ok_or_else(|| format!("no face has the Chinese glyphs a report needs ({REQUIRED})"))
}
