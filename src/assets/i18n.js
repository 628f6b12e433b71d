/* Every string the console and the promoter page show, in Simplified
 * Chinese and English. t("key", {name: value}) fills {name}; an API error
 * is translated by its "code" (err.CODE), falling back to its English
 * "error". Elements carry data-i18n (text), data-i18n-title,
 * data-i18n-placeholder and data-i18n-aria; I18N.apply() fills them. */
"use strict";
(function () {
  const STRINGS = {
    "en": {
      "app.title": "wxscene console",
      "app.subtitle": "channel statistics",
      "lang.label": "Language",
      "nav.dashboard": "Dashboard",
      "nav.channels": "Channels",
      "nav.qrcodes": "QR codes",
      "nav.promoters": "Promoters",
      "login.title": "Sign in to wxscene",
      "login.help": "Enter the admin token ([admin] token or WXSCENE_ADMIN_TOKEN in the server's configuration). It stays in this browser tab only.",
      "login.token": "Admin token",
      "login.submit": "Sign in",
      "login.out": "Sign out",
      "common.loading": "Loading…",
      "common.save": "Save",
      "common.cancel": "Cancel",
      "common.close": "Close",
      "common.none": "–",
      "common.yes": "yes",
      "common.search": "Search",
      "common.all": "All",
      "common.download": "Download",
      "err.token": "The token was not accepted (401). Check the admin token and try again.",
      "err.disabled": "The admin API is disabled on this server (403): set [admin] token in its configuration.",
      "err.network": "The server could not be reached. Check the connection and try again.",
      "err.status": "The server answered {status}.",
      "err.field": "{field}: {message}",
      "err.wechat": "WeChat refused (errcode {errcode}):",
      "dash.from": "From",
      "dash.to": "to",
      "dash.days": "{n} d",
      "dash.show": "Show",
      "dash.csv": "Download CSV",
      "dash.csv_view": "CSV view",
      "dash.csv.channel": "Channels",
      "dash.csv.promoter": "Promoters",
      "dash.csv.day": "Days",
      "dash.trend": "Daily trend",
      "dash.scene_trend": "One channel, day by day",
      "dash.pick_channel": "Channel",
      "dash.promoters": "Promoters",
      "dash.channels": "Channels",
      "dash.ranked": "ranked by net fans",
      "dash.legend.brought": "Fans brought (new + returning)",
      "dash.legend.unsubs": "Unsubscribes",
      "dash.legend.net": "Net fans",
      "dash.legend.scans": "Scans",
      "dash.legend.new": "New fans",
      "dash.retention_note": "brought = new + returning fans; {days}-day = share still subscribed {days} days after subscribing",
      "dash.organic": "Organic (no QR code)",
      "dash.unknown": "Unknown scene",
      "dash.total": "Total",
      "dash.check": "check",
      "dash.of": "{a} of {b}",
      "metric.scans": "Scans",
      "metric.unique_scanners": "Unique scanners",
      "metric.new_fans": "New fans",
      "metric.returning_fans": "Returning",
      "metric.unsubscribes": "Unsubscribes",
      "metric.net_fans": "Net fans",
      "metric.retained_fans": "Retained",
      "dash.csv.campaign": "Campaigns",
      "dash.campaigns": "Campaigns",
      "dash.campaigns_note": "ranked by net fans; a fan scanning several of a campaign's channels counts once in unique scanners",
      "dash.campaign_channels_help": "The campaign's channels in the period (archived ones too when they had activity).",
      "dash.campaign_trend": "One campaign, day by day",
      "dash.pick_campaign": "Campaign",
      "dash.no_campaigns": "No campaigns yet: create one on the Channels page.",
      "dash.legend.scanners": "Unique scanners",
      "col.campaign": "Campaign",
      "ch.filter_campaign": "Campaign",
      "ch.all_campaigns": "All campaigns",
      "ch.no_campaign": "(no campaign)",
      "cp.title": "Campaigns",
      "cp.help": "A campaign groups channels (a poster run, an event) so the dashboard can show them together. Put a channel in one with Edit.",
      "cp.name": "Campaign name",
      "cp.note": "Note",
      "cp.add": "New campaign",
      "cp.none": "No campaign",
      "cp.saved": "Campaign {name} created.",
      "cp.empty": "No campaigns yet.",
      "cp.channels_help": "How many active channels are in this campaign.",
      "col.channel": "Channel",
      "col.scene": "Scene",
      "col.name": "Name",
      "col.promoter": "Promoter",
      "col.reply": "Reply",
      "col.scan_reply": "Scan reply",
      "col.tag": "Tag",
      "col.created": "Created",
      "col.archived": "Archived",
      "col.actions": "Actions",
      "col.channels": "Channels",
      "col.brought": "Brought",
      "col.unsubs": "Unsubs",
      "col.net": "Net",
      "col.subscribed": "Subscribed",
      "col.retention": "{days}-day",
      "col.flag": "Flag",
      "ch.title": "Channels",
      "ch.search": "Search name, scene or promoter",
      "ch.filter_promoter": "Promoter",
      "ch.all_promoters": "All promoters",
      "ch.no_promoter": "(no promoter)",
      "ch.show_archived": "Show archived",
      "ch.add": "Add channel",
      "ch.edit": "Edit",
      "ch.archive": "Archive",
      "ch.archived_on": "archived {date}",
      "ch.count": "{n} channels",
      "ch.empty": "No channels match.",
      "ch.form.add": "Add a channel",
      "ch.form.edit": "Edit channel {scene}",
      "ch.form.scene_help": "A number 1–4294967295 (a scene_id) or a short text (a scene_str). It cannot change later.",
      "ch.form.reply_help": "Empty: the account's default welcome. {channel} and {promoter} are filled in.",
      "ch.form.scan_reply_help": "Empty: scans by fans get the reply above.",
      "ch.saved": "Channel {scene} saved.",
      "ch.archive_title": "Archive channel {scene}?",
      "ch.archive_text": "Archiving keeps the channel's history and statistics, removes it from this list and the dashboard's choices, and it gets no new QR codes. A permanent QR code id it holds is retired (not reused). Its existing codes keep counting scans. This cannot be undone from the console.",
      "ch.archive_do": "Archive",
      "ch.archived": "Channel {scene} archived.",
      "ch.import": "Import from CSV",
      "ch.import_help": "A CSV file as Excel saves it (UTF-8, or GBK / GB18030 on Chinese Windows); header row: scene, name, promoter, reply, scan_reply, tag (Chinese headers too). All rows are imported or none.",
      "ch.import_file": "CSV file",
      "ch.import_choose": "Choose a CSV file…",
      "ch.import_check": "Check",
      "ch.import_do": "Import",
      "ch.template": "Download template",
      "ch.import_ok": "{n} channels imported (file read as {encoding}).",
      "ch.import_dry_ok": "The file is fine: {n} channels would be imported (read as {encoding}). Press Import to add them.",
      "ch.import_errors": "Nothing was imported: {n} problems in the file.",
      "ch.import_no_file": "Choose a CSV file first.",
      "ch.err.row": "Row",
      "ch.err.column": "Column",
      "ch.err.message": "Problem",
      "qr.title": "QR codes",
      "qr.create": "Create a QR code",
      "qr.channel": "Channel",
      "qr.kind": "Kind",
      "qr.kind.temp": "Temporary",
      "qr.kind.perm": "Permanent",
      "qr.expire_days": "Valid for (days)",
      "qr.create_do": "Create",
      "qr.created": "Code {id} created for {scene}.",
      "qr.perm": "Permanent code ids: {used} used, {free} left of {total} ({retired} retired).",
      "qr.expiring": "Only temporary codes expiring within 7 days",
      "qr.list": "Codes",
      "qr.id": "ID",
      "qr.expires": "Expires",
      "qr.never": "never",
      "qr.preview": "Preview",
      "qr.png": "PNG",
      "qr.svg": "SVG",
      "qr.select": "Select",
      "qr.select_all": "Select all",
      "qr.zip": "Download selected as zip",
      "qr.sheet": "Printable A4 sheet",
      "qr.print": "Print",
      "qr.back": "Back",
      "qr.none_selected": "Select some codes first.",
      "qr.empty": "No codes yet.",
      "qr.no_channels": "Add a channel first (Channels page).",
      "qr.sheet_title": "QR codes",
      "pr.title": "Promoters",
      "pr.promoter": "Promoter",
      "pr.brought": "Fans brought",
      "pr.brought_help": "New and returning fans who subscribed by scanning this promoter's codes in the period.",
      "pr.retained": "Retained",
      "pr.retained_help": "Of the fans brought at least {days} days ago, the share still subscribed {days} days after subscribing.",
      "pr.unsubs": "Unsubscribes",
      "pr.unsubs_help": "Fans from this promoter's codes who unsubscribed in the period.",
      "pr.channels_help": "How many channels carry this promoter's name.",
      "pr.flag": "Flag",
      "pr.flag_help": "Suspicious pattern: many fans who subscribe and unsubscribe within minutes, or scans bunched from few people. Worth a look, not proof.",
      "pr.suspicious": "suspicious",
      "flag.quick_unsubscribes": "{n} of {brought} subscribes undone within 10 minutes",
      "flag.resubscribe_cycling": "{returning} of {brought} fans came back after leaving (cycling to be counted again)",
      "pr.link": "Private link",
      "pr.link_help": "A read-only page showing only this promoter's channels and numbers; no sign-in needed. Revoke it at any time.",
      "pr.link_none": "none",
      "pr.link_since": "made {date}",
      "pr.link_make": "Make link",
      "pr.link_new": "New link",
      "pr.link_copy": "Copy",
      "pr.link_copied": "Copied.",
      "pr.link_revoke": "Revoke",
      "pr.link_made": "Link for {name} (shown once; copy it now):",
      "pr.link_replace": "A new link replaces {name}'s current one, which stops working. Go on?",
      "pr.link_revoked": "The link of {name} no longer works.",
      "pr.link_revoke_confirm": "Revoke the private link of {name}? The page stops working at once.",
      "pr.empty": "No promoters in this period.",
      "pp.title": "Results for {name}",
      "pp.period": "{since} – {until} ({tz})",
      "pp.channels": "Your channels",
      "pp.days": "Day by day (latest first)",
      "pp.day": "Day",
      "pp.gone": "This link is not valid or has been revoked. Ask for a new one.",
      "pp.readonly": "Read-only page. Numbers update as fans scan."
    },
    "zh-CN": {
      "app.title": "wxscene 控制台",
      "app.subtitle": "渠道统计",
      "lang.label": "语言",
      "nav.dashboard": "数据概览",
      "nav.channels": "渠道",
      "nav.qrcodes": "二维码",
      "nav.promoters": "推广员",
      "login.title": "登录 wxscene",
      "login.help": "请输入管理令牌（服务器配置中的 [admin] token 或 WXSCENE_ADMIN_TOKEN）。令牌只保存在当前浏览器标签页中。",
      "login.token": "管理令牌",
      "login.submit": "登录",
      "login.out": "退出",
      "common.loading": "加载中…",
      "common.save": "保存",
      "common.cancel": "取消",
      "common.close": "关闭",
      "common.none": "–",
      "common.yes": "是",
      "common.search": "搜索",
      "common.all": "全部",
      "common.download": "下载",
      "err.token": "令牌不正确（401）。请检查管理令牌后重试。",
      "err.disabled": "此服务器未开启管理接口（403）：请在配置中设置 [admin] token。",
      "err.network": "无法连接服务器，请检查网络后重试。",
      "err.status": "服务器返回 {status}。",
      "err.field": "{field}：{message}",
      "err.wechat": "微信接口返回错误（errcode {errcode}）：",
      "dash.from": "从",
      "dash.to": "到",
      "dash.days": "{n} 天",
      "dash.show": "查看",
      "dash.csv": "下载 CSV",
      "dash.csv_view": "CSV 内容",
      "dash.csv.channel": "按渠道",
      "dash.csv.promoter": "按推广员",
      "dash.csv.day": "按天",
      "dash.trend": "每日趋势",
      "dash.scene_trend": "单个渠道每日数据",
      "dash.pick_channel": "渠道",
      "dash.promoters": "推广员",
      "dash.channels": "渠道",
      "dash.ranked": "按净增粉丝排序",
      "dash.legend.brought": "带来粉丝（新关注 + 回流）",
      "dash.legend.unsubs": "取消关注",
      "dash.legend.net": "净增粉丝",
      "dash.legend.scans": "扫码次数",
      "dash.legend.new": "新关注",
      "dash.retention_note": "带来 = 新关注 + 回流粉丝；{days} 天留存 = 关注 {days} 天后仍在关注的比例",
      "dash.organic": "自然关注（非二维码）",
      "dash.unknown": "未知场景值",
      "dash.total": "合计",
      "dash.check": "需核查",
      "dash.of": "{b} 人中 {a} 人",
      "metric.scans": "扫码次数",
      "metric.unique_scanners": "扫码人数",
      "metric.new_fans": "新关注",
      "metric.returning_fans": "回流",
      "metric.unsubscribes": "取消关注",
      "metric.net_fans": "净增粉丝",
      "metric.retained_fans": "留存",
      "dash.csv.campaign": "活动",
      "dash.campaigns": "活动",
      "dash.campaigns_note": "按净增粉丝排序；同一粉丝扫描同一活动的多个渠道，在扫码人数中只计一次",
      "dash.campaign_channels_help": "统计期内该活动的渠道数（有数据的已归档渠道也计入）。",
      "dash.campaign_trend": "单个活动每日趋势",
      "dash.pick_campaign": "活动",
      "dash.no_campaigns": "还没有活动：请在“渠道”页新建活动。",
      "dash.legend.scanners": "扫码人数",
      "col.campaign": "活动",
      "ch.filter_campaign": "活动",
      "ch.all_campaigns": "全部活动",
      "ch.no_campaign": "（未归入活动）",
      "cp.title": "活动",
      "cp.help": "活动用来把多个渠道归为一组（如一次地推、一场活动），数据概览可按活动汇总。点“编辑”把渠道放进活动。",
      "cp.name": "活动名称",
      "cp.note": "备注",
      "cp.add": "新建活动",
      "cp.none": "未归入活动",
      "cp.saved": "活动 {name} 已创建。",
      "cp.empty": "还没有活动。",
      "cp.channels_help": "该活动中未归档的渠道数量。",
      "col.channel": "渠道",
      "col.scene": "场景值",
      "col.name": "名称",
      "col.promoter": "推广员",
      "col.reply": "关注回复",
      "col.scan_reply": "扫码回复",
      "col.tag": "标签",
      "col.created": "创建时间",
      "col.archived": "已归档",
      "col.actions": "操作",
      "col.channels": "渠道数",
      "col.brought": "带来",
      "col.unsubs": "取关",
      "col.net": "净增",
      "col.subscribed": "仍关注",
      "col.retention": "{days} 天留存",
      "col.flag": "标记",
      "ch.title": "渠道",
      "ch.search": "搜索名称、场景值或推广员",
      "ch.filter_promoter": "推广员",
      "ch.all_promoters": "全部推广员",
      "ch.no_promoter": "（无推广员）",
      "ch.show_archived": "显示已归档",
      "ch.add": "新增渠道",
      "ch.edit": "编辑",
      "ch.archive": "归档",
      "ch.archived_on": "归档于 {date}",
      "ch.count": "共 {n} 个渠道",
      "ch.empty": "没有符合条件的渠道。",
      "ch.form.add": "新增渠道",
      "ch.form.edit": "编辑渠道 {scene}",
      "ch.form.scene_help": "数字 1–4294967295（场景值 ID）或简短文字（场景字符串），创建后不能修改。",
      "ch.form.reply_help": "留空：使用公众号默认欢迎语。{channel} 和 {promoter} 会被替换为渠道名和推广员。",
      "ch.form.scan_reply_help": "留空：已关注粉丝扫码时也回复上面的内容。",
      "ch.saved": "渠道 {scene} 已保存。",
      "ch.archive_title": "归档渠道 {scene}？",
      "ch.archive_text": "归档后渠道的历史记录和统计数据都会保留，但它会从列表和数据概览的选项中移除，也不能再生成新的二维码。它占用的永久二维码 ID 会被停用（不再复用）。已发出的二维码仍会统计扫码。控制台中无法撤销归档。",
      "ch.archive_do": "确认归档",
      "ch.archived": "渠道 {scene} 已归档。",
      "ch.import": "从 CSV 导入",
      "ch.import_help": "Excel 保存的 CSV 文件（UTF-8，或中文 Windows 下的 GBK / GB18030）；表头：scene、name、promoter、reply、scan_reply、tag（也可用中文表头）。要么全部导入，要么都不导入。",
      "ch.import_file": "CSV 文件",
      "ch.import_choose": "选择 CSV 文件…",
      "ch.import_check": "检查",
      "ch.import_do": "导入",
      "ch.template": "下载模板",
      "ch.import_ok": "已导入 {n} 个渠道（文件编码：{encoding}）。",
      "ch.import_dry_ok": "文件没有问题：可导入 {n} 个渠道（编码：{encoding}）。点击“导入”即可添加。",
      "ch.import_errors": "未导入任何渠道：文件中有 {n} 处问题。",
      "ch.import_no_file": "请先选择 CSV 文件。",
      "ch.err.row": "行",
      "ch.err.column": "列",
      "ch.err.message": "问题",
      "qr.title": "二维码",
      "qr.create": "生成二维码",
      "qr.channel": "渠道",
      "qr.kind": "类型",
      "qr.kind.temp": "临时",
      "qr.kind.perm": "永久",
      "qr.expire_days": "有效期（天）",
      "qr.create_do": "生成",
      "qr.created": "已为 {scene} 生成二维码 {id}。",
      "qr.perm": "永久二维码 ID：已用 {used}，剩余 {free}，共 {total}（已停用 {retired}）。",
      "qr.expiring": "只看 7 天内过期的临时二维码",
      "qr.list": "二维码列表",
      "qr.id": "编号",
      "qr.expires": "过期时间",
      "qr.never": "永不过期",
      "qr.preview": "预览",
      "qr.png": "PNG 图片",
      "qr.svg": "SVG 图片",
      "qr.select": "选择",
      "qr.select_all": "全选",
      "qr.zip": "打包下载所选（zip）",
      "qr.sheet": "打印 A4 页",
      "qr.print": "打印",
      "qr.back": "返回",
      "qr.none_selected": "请先选择二维码。",
      "qr.empty": "还没有二维码。",
      "qr.no_channels": "请先在“渠道”页新增渠道。",
      "qr.sheet_title": "二维码",
      "pr.title": "推广员",
      "pr.promoter": "推广员",
      "pr.brought": "带来粉丝",
      "pr.brought_help": "统计期内扫描该推广员二维码关注的新粉丝和回流粉丝。",
      "pr.retained": "留存",
      "pr.retained_help": "在至少 {days} 天前带来的粉丝中，关注 {days} 天后仍在关注的比例。",
      "pr.unsubs": "取消关注",
      "pr.unsubs_help": "统计期内取消关注的、由该推广员二维码带来的粉丝。",
      "pr.channels_help": "推广员名下的渠道数量。",
      "pr.flag": "标记",
      "pr.flag_help": "可疑模式：大量粉丝在几分钟内关注又取关，或扫码集中在少数人。值得核查，但不等于作弊。",
      "pr.suspicious": "可疑",
      "flag.quick_unsubscribes": "{brought} 个关注中有 {n} 个在 10 分钟内取消",
      "flag.resubscribe_cycling": "{brought} 个粉丝中有 {returning} 个是取关后再关注（疑似反复刷量）",
      "pr.link": "专属链接",
      "pr.link_help": "只读页面，只显示该推广员自己的渠道和数据，无需登录，可随时撤销。",
      "pr.link_none": "无",
      "pr.link_since": "创建于 {date}",
      "pr.link_make": "生成链接",
      "pr.link_new": "重新生成",
      "pr.link_copy": "复制",
      "pr.link_copied": "已复制。",
      "pr.link_revoke": "撤销",
      "pr.link_made": "{name} 的专属链接（只显示这一次，请立即复制）：",
      "pr.link_replace": "新链接会替换 {name} 现有的链接，旧链接将失效。继续吗？",
      "pr.link_revoked": "{name} 的链接已失效。",
      "pr.link_revoke_confirm": "撤销 {name} 的专属链接？页面将立即无法访问。",
      "pr.empty": "统计期内没有推广员数据。",
      "pp.title": "{name} 的推广数据",
      "pp.period": "{since} 至 {until}（{tz}）",
      "pp.channels": "你的渠道",
      "pp.days": "每日数据（最新在前）",
      "pp.day": "日期",
      "pp.gone": "此链接无效或已被撤销，请联系管理员获取新链接。",
      "pp.readonly": "只读页面，数据随粉丝扫码实时更新。"
    }
  };

  /* API error codes (the "code" of an error answer, docs/admin-api.md
   * "Error codes"), with {params}. English needs none: the server's
   * "error" is English. */
  const ERRORS = {
    "en": {},
    "zh-CN": {
      "bad_request": "请求不正确。",
      "unauthorized": "令牌不正确或缺失。",
      "forbidden": "此服务器未开启管理接口。",
      "not_found": "找不到该项目。",
      "method_not_allowed": "不支持该操作。",
      "conflict": "与现有数据冲突。",
      "too_large": "内容太大。",
      "internal": "服务器内部错误，请查看服务器日志。",
      "unavailable": "服务器繁忙或正在停止，请稍后重试。",
      "archived": "该渠道已归档，不能修改。",
      "body_type": "请求内容必须是 JSON 对象。",
      "unknown_field": "无法识别的字段。",
      "nothing_to_change": "没有需要修改的内容。",
      "scene_blank": "场景值不能为空白。",
      "scene_range": "场景值超出范围：数字应为 1–4294967295，文字为 1–64 字节。",
      "scene_type": "场景值应为数字或文字。",
      "scene_immutable": "场景值不能修改。",
      "scene_duplicate": "场景值在文件中重复。",
      "scene_exists": "该场景值的渠道已存在。",
      "str_type": "str 应为 true 或 false。",
      "csv_columns": "这一行的列数与表头不一致。",
      "csv_header": "表头不正确：应包含 scene（场景值）和 name（名称）列。",
      "csv_syntax": "CSV 格式不正确（例如引号不匹配）。",
      "csv_encoding": "无法识别文件编码（应为 UTF-8 或 GBK/GB18030）。",
      "csv_empty": "文件是空的。",
      "import_invalid": "文件有错误，未导入任何渠道。",
      "expiring_range": "天数应为 1–3650。",
      "bad_query": "查询参数格式不正确。",
      "bad_json": "请求内容不是有效的 JSON。",
      "date_invalid": "日期格式应为 YYYY-MM-DD。",
      "ids_invalid": "请选择要下载的二维码（最多 {max} 个）。",
      "promoter_not_found": "找不到推广员 {name}。",
      "link_not_found": "该推广员没有专属链接。",
      "name_invalid": "推广员名称不正确。",
      "scope_needs_day": "单个渠道或推广员的数据只能按天查看。",
      "exists": "已存在。",
      "already_archived": "该渠道已经归档。",
      "scene_invalid": "场景值格式不正确。",
      "kind_invalid": "类型应为临时或永久。",
      "expire_seconds_invalid": "有效期应为 60 秒到 30 天。",
      "qr_conflict": "与已有的二维码冲突（例如该永久 ID 已停用，或渠道不一致）。",
      "wechat_error": "微信接口返回错误（errcode {errcode}）。",
      "scale_range": "图片尺寸超出范围。",
      "id_invalid": "二维码编号不正确。",
      "campaign_unknown": "没有这个活动，请先新建。",
      "campaign_type": "活动应为活动名称或留空。",
      "campaign_scope": "活动只能与按天或按渠道的统计一起使用。",
      "campaign_invalid": "内容不正确（不能为空，不能含控制字符，名称最多 128 字节，备注最多 1024 字节）。",
      "campaign_exists": "已有同名活动。"
    }
  };

  /* What a WeChat errcode means, for "wechat_error" (wechat-protocol.md;
   * others show the code alone). */
  const WECHAT = {
    "en": {},
    "zh-CN": {
      "-1": "微信系统繁忙，请稍后重试。",
      "40001": "access_token 无效或已被其他程序刷新。",
      "40013": "AppID 无效。",
      "40125": "AppSecret 无效。",
      "40164": "服务器 IP 不在公众号的 IP 白名单中。",
      "45009": "接口调用次数已达今日上限。",
      "45029": "永久二维码数量已用完（上限 100,000 个）。",
      "48001": "公众号没有该接口的权限（需要已认证的服务号）。"
    }
  };

  /* A field's refusal FIELD_KIND ("name_length") by its kind. */
  const KINDS = {
    "en": {},
    "zh-CN": {
      "required": "必须填写。",
      "length": "长度超出范围。",
      "length_limits": "长度应为 {min}–{max} 字节（现在是 {length} 字节）。",
      "invalid": "格式不正确。",
      "utf8": "不是有效的 UTF-8 文本。",
      "control": "不能包含控制字符。",
      "type": "类型不正确，应为文字。",
      "nul": "不能包含 NUL 字符。",
      "memory": "服务器内存不足。",
      "range": "超出范围。",
      "blank": "不能为空白。"
    }
  };

  /* Answers that carry no code yet: their English message's shape. */
  const SHAPES = [
    [/^(\w+): required$/, "required"],
    [/^(\w+): length 0 is outside/, "required"],
    [/^(\w+): length \d+ is outside/, "length"],
    [/^(\w+): control character/, "control"],
    [/^(\w+): not valid UTF-8/, "utf8"],
    [/^channel .* exists/, "exists"],
  ];

  const FIELDS = {
    "en": {},
    "zh-CN": {
      "scene": "场景值", "name": "名称", "promoter": "推广员", "reply": "关注回复",
      "scan_reply": "扫码回复", "tag": "标签", "kind": "类型", "expire_seconds": "有效期",
      "ids": "二维码", "since": "开始日期", "until": "结束日期", "file": "文件",
      "campaign": "活动", "note": "备注"
    }
  };

  const KEY = "wxscene.lang";
  let lang = "en";

  function pick(l) {
    if (!l) return null;
    l = String(l).toLowerCase();
    if (l.startsWith("zh")) return "zh-CN";
    if (l.startsWith("en")) return "en";
    return null;
  }

  function fill(s, params) {
    return s.replace(/\{(\w+)\}/g, (m, k) => (params && params[k] !== undefined && params[k] !== null) ? String(params[k]) : m);
  }

  function t(key, params) {
    const s = STRINGS[lang][key] !== undefined ? STRINGS[lang][key] : STRINGS.en[key];
    return s === undefined ? key : fill(s, params);
  }

  function fieldName(f) {
    return (FIELDS[lang] && FIELDS[lang][f]) || f;
  }

  /* The message of an API error body ({error, code, field, params}) in the
   * current language: the translated code, else the server's English. */
  function error(body) {
    if (!body) return "";
    let code = body.code, field = body.field;
    for (const [re, kind] of SHAPES) {
      const m = !code && body.error ? re.exec(body.error) : null; /* the first shape that fits */
      if (m) { code = m[1] ? m[1] + "_" + kind : kind; field = field || m[1]; }
    }
    const table = ERRORS[lang] || {}, kinds = KINDS[lang] || {};
    const kind = field && code && code.startsWith(field + "_") ? code.slice(field.length + 1) : null;
    const p = body.params || {};
    const kindKey = kind === "length" && p.max !== undefined && p.length !== undefined ? "length_limits" : kind;
    const tr = (code && table[code]) || (kindKey && kinds[kindKey]);
    if (!tr) {
      const msg = body.error || body.message || "";
      return body.errcode && lang !== "en" ? t("err.wechat", { errcode: body.errcode }) + " " + msg : msg;
    }
    let msg = fill(tr, Object.assign({ errcode: body.errcode }, p, { field }));
    const wx = code === "wechat_error" && WECHAT[lang] && WECHAT[lang][String(body.errcode)];
    if (wx) msg += wx;
    return field ? t("err.field", { field: fieldName(field), message: msg }) : msg;
  }

  function apply(root) {
    const r = root || document;
    document.documentElement.lang = lang;
    r.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
    r.querySelectorAll("[data-i18n-title]").forEach((e) => { e.title = t(e.dataset.i18nTitle); });
    r.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
    r.querySelectorAll("[data-i18n-aria]").forEach((e) => { e.setAttribute("aria-label", t(e.dataset.i18nAria)); });
    r.querySelectorAll("[data-lang]").forEach((e) => { e.setAttribute("aria-pressed", String(e.dataset.lang === lang)); });
  }

  /* The language: one the user chose before (localStorage), else the
   * server's pick from Accept-Language, else the browser's. */
  function init(serverLang) {
    let saved = null;
    try { saved = localStorage.getItem(KEY); } catch (e) { /* storage off */ }
    lang = pick(saved) || pick(serverLang) || pick(navigator.language) || "en";
    return lang;
  }

  function set(l) {
    lang = pick(l) || "en";
    try { localStorage.setItem(KEY, lang); } catch (e) { /* storage off */ }
    apply();
  }

  window.I18N = {
    t, error, apply, init, set, fieldName,
    get lang() { return lang; },
    locale() { return lang === "zh-CN" ? "zh-CN" : "en-US"; },
    STRINGS, ERRORS
  };
})();
