"""The cashier screen's own texts (runtime notices, labels, prompts) in English and Chinese."""

from __future__ import annotations

from typing import Final

from device.checkout.messages import CATALOGUE as CHECKOUT_TEXTS

# key -> (English, Chinese); the checkout core's messages live in device.checkout.messages.
TEXTS: Final[dict[str, tuple[str, str]]] = {
    "runtime.sale_lost": (
        "The sale in progress was not recorded; please scan again",
        "未完成的交易没有保存，请重新扫描",
    ),
    "runtime.unprinted": (
        "Sale {receipt} was saved but its receipt did not print: press Enter to reprint",
        "交易{receipt}已保存但小票未打印：按确认键补打",
    ),
    "runtime.reprinted": ("receipt {receipt} sent to the printer", "小票{receipt}已发送打印"),
    "runtime.store_full": ("{reason}", "存储已满，不能保存交易，请勿收款：{reason}"),
    "runtime.store": ("could not save: {reason}", "保存失败：{reason}"),
    "runtime.print_failed": ("receipt not printed: {reason}", "小票未打印：{reason}"),
    "runtime.no_printer": ("no receipt printer configured", "未配置小票打印机"),
    "runtime.no_drawer": ("no cash drawer configured", "未配置钱箱"),
    "runtime.drawer_failed": ("drawer did not open: {reason}", "钱箱未打开：{reason}"),
    "runtime.card_failed": ("card not read: {reason}; swipe again", "读卡失败：{reason}，请重刷"),
    "runtime.device": ("{device}: {reason}", "{device}：{reason}"),
    "runtime.suspended_bad": ("{problem}", "{problem}"),
    "runtime.internal": ("internal error: {reason}", "内部错误：{reason}"),
    "runtime.rules": (
        "HQ's new rules could not be used; selling goes on with the previous ones ({reason})",
        "总部下发的新规则无法使用，继续按原规则销售（{reason}）",
    ),
    "ui.bad_amount": ("type an amount such as 12.50", "请输入金额，例如 12.50"),
    "ui.bad_number": ("type a number first", "请先输入数字"),
    "ui.need_pin": ("type your staff id, ENTER, then your PIN", "请输入工号，确认，再输入密码"),
    "ui.pin_mismatch": (
        "the two PINs differ: choose your PIN again",
        "两次输入的密码不一致，请重新设置",
    ),
    "prompt.new_pin": ("choose your PIN (4-8 digits)", "请设置密码（4-8位数字）"),
    "prompt.confirm_pin": ("type the same PIN again", "请再次输入密码"),
    "ui.unknown_key": ("that key does nothing here", "此处该键无效"),
    "ui.scan_prompt": ("scanner: type a barcode and press Enter", "扫描枪：输入条码后回车"),
    # labels
    "label.total": ("TOTAL", "合计"),
    "label.due": ("DUE", "应付"),
    "label.paid": ("PAID", "已付"),
    "label.discount": ("Discount", "优惠"),
    "label.member": ("Member", "会员"),
    "label.points": ("Points", "积分"),
    "label.tier": ("Tier", "等级"),
    "label.no_member": ("no member (F9 or swipe to identify)", "非会员（F9 或刷卡识别会员）"),
    "label.online": ("online", "在线"),
    "label.offline": ("OFFLINE", "离线"),
    "label.sync_off": ("sync off", "未同步"),
    "label.sync_halted": (
        "SYNC STOPPED: call support (sales are kept)",
        "同步已停止：请联系技术支持（销售已保存）",
    ),
    "label.unsynced": ("unsynced {count}", "未上传 {count}"),
    "label.paper": ("paper {state}", "纸 {state}"),
    "label.drawer_open": ("DRAWER OPEN", "钱箱未关"),
    "label.drawer_closed": ("drawer closed", "钱箱已关"),
    "label.cashier": ("cashier {name}", "收银员 {name}"),
    "label.nobody": ("not signed in", "未登录"),
    "label.receipt": ("receipt {receipt}: {path}", "小票 {receipt}：{path}"),
    "label.customer": ("Customer display", "顾客显示屏"),
    "label.suspended": ("suspended: {ids}", "挂单：{ids}"),
    "label.shift_none": ("no shift open", "未开班"),
    "label.shift": ("shift {sales} sales", "本班 {sales} 笔"),
    # prompts per entry mode
    "prompt.staff": ("Staff id, then ENTER", "工号，然后确认"),
    "prompt.pin": ("PIN for {staff}, then ENTER", "{staff} 的密码，然后确认"),
    "prompt.sale": ("Scan, or type a barcode and ENTER", "扫描，或输入条码后确认"),
    "prompt.tender": (
        "Amount, then F4 cash / F5 card / F6 mobile / F7 points (F4 alone: exact cash)",
        "金额，然后 F4现金 F5银行卡 F6扫码 F7积分（直接F4：现金付清）",
    ),
    "prompt.member": (
        "Member phone, then ENTER (or swipe the card)",
        "会员手机号，然后确认（或刷卡）",
    ),
    "prompt.register": ("New member's phone, then ENTER", "新会员手机号，然后确认"),
    "prompt.qty": ("Quantity for the last line, then ENTER", "最后一行的数量，然后确认"),
    "prompt.void": ("Line number to void, then ENTER", "要作废的行号，然后确认"),
    "prompt.return": ("Scan or type the receipt number, then ENTER", "扫描或输入小票号，然后确认"),
    "prompt.return_lines": (
        "Line numbers to return (e.g. 1.3), ENTER; ENTER alone = all",
        "退货行号（如 1.3），确认；直接确认=全部",
    ),
    "prompt.manager_id": (
        "Manager id for {action}, then ENTER",
        "{action}需店长授权：店长工号，确认",
    ),
    "prompt.manager_pin": ("Manager PIN, then ENTER", "店长密码，然后确认"),
    "prompt.float": ("Opening float in yuan, then ENTER", "开班备用金（元），然后确认"),
    "prompt.count": ("Counted cash in yuan, then ENTER", "实点现金（元），然后确认"),
    "prompt.cash_in": ("Cash in amount, then ENTER", "存入金额，然后确认"),
    "prompt.cash_out": ("Cash out amount, then ENTER", "取出金额，然后确认"),
    "prompt.recall": (
        "Number of the suspended sale to recall, then ENTER",
        "要取回的挂单序号，然后确认",
    ),
    "prompt.feedback": ("Customer rating 1-5 (ENTER to skip)", "顾客评分 1-5（确认跳过）"),
    "prompt.menu": ("Function: choose a number", "功能：请选择序号"),
    "prompt.reprint": ("Receipt number to reprint, then ENTER", "补打小票号，然后确认"),
    "prompt.discount": ("Sale discount in %, then ENTER", "整单折扣（%），然后确认"),
    "prompt.approval": (
        "Approval code from the payment terminal (or coupon code), then ENTER",
        "支付终端的授权码（或券码），然后确认",
    ),
    "menu.suspend": ("Suspend sale", "挂单"),
    "menu.recall": ("Recall sale", "取单"),
    "menu.x": ("X report", "X报表"),
    "menu.z": ("Close shift (Z)", "交班（Z报表）"),
    "menu.cash_in": ("Cash in", "存入现金"),
    "menu.cash_out": ("Cash out", "取出现金"),
    "menu.register": ("Register member", "注册会员"),
    "menu.reprint": ("Reprint receipt", "补打小票"),
    "menu.language": ("中文 / English", "中文 / English"),
    "menu.logout": ("Sign out", "退出登录"),
    "menu.cancel_sale": ("Cancel sale", "取消交易"),
    "menu.discount": ("Sale discount %", "整单折扣"),
    "menu.price": ("Price override (last line)", "改价（最后一行）"),
    "menu.line_discount": ("Line discount % (last line)", "单品折扣（最后一行）"),
    "menu.void_sale": ("Void a completed sale", "作废已完成交易"),
    "menu.lookup": ("Member lookup", "会员查询"),
    "menu.more": ("F12 again: manager functions", "再按F12：店长功能"),
    "menu.item_return": ("Return by item (no receipt)", "按商品退货（无小票）"),
    "prompt.asking": ("Checking with HQ, please wait...", "正在向总部核实，请稍候……"),
    "prompt.item_sku": ("Item code to return, then ENTER", "退货商品编码，然后确认"),
    "prompt.item_qty": ("How many come back, then ENTER", "退货数量，然后确认"),
    "prompt.item_price": ("Refund per item in yuan, then ENTER", "每件退款金额（元），然后确认"),
    "prompt.price": ("New unit price for the last line, then ENTER", "最后一行的新单价，然后确认"),
    "prompt.line_discount": (
        "Discount % for the last line, then ENTER",
        "最后一行的折扣（%），然后确认",
    ),
    "prompt.void_sale": (
        "Receipt number to void (ENTER alone: the last sale)",
        "要作废的小票号（直接确认：上一笔）",
    ),
    "label.report": ("{kind} report", "{kind}报表"),
    "label.expected": ("expected cash", "应有现金"),
    "label.counted": ("counted", "实点"),
    "label.difference": ("difference", "差额"),
    "label.sales": ("sales", "销售笔数"),
    "label.returns": ("returns", "退货笔数"),
    "label.change": ("CHANGE", "找零"),
    "label.keys": (
        "F1 void  F2 qty  F3 subtotal  F4 cash  F5 card  F6 mobile  F7 points  F8 coupon  "
        "F9 member  F10 return  F11 no sale  F12 menu  Esc clear  ? help",
        "F1作废 F2数量 F3小计 F4现金 F5银行卡 F6扫码 F7积分 F8券 F9会员 F10退货 F11开钱箱 "
        "F12功能 Esc清除 ?帮助",
    ),
    "label.demo_keys": (
        "demo: Ctrl+S scan a product  Ctrl+W scan a weighed item  Ctrl+K swipe a member card  "
        "Ctrl+T type a barcode into the scanner  Ctrl+D close the drawer  Ctrl+Q quit",
        "演示：Ctrl+S 扫商品  Ctrl+W 扫称重商品  Ctrl+K 刷会员卡  Ctrl+T 扫描枪输入条码  "
        "Ctrl+D 关钱箱  Ctrl+Q 退出",
    ),
    "action.OpenShift": ("opening the shift", "开班"),
    "action.CloseShift": ("closing the shift", "交班"),
    "action.NoSale": ("opening the drawer (no sale)", "无交易开钱箱"),
    "action.VoidSale": ("voiding a sale", "作废交易"),
    "action.OverridePrice": ("a price override", "改价"),
    "action.DiscountLine": ("a line discount", "单品折扣"),
    "action.DiscountSale": ("a sale discount", "整单折扣"),
    "action.NoReceiptReturn": ("a return without receipt", "无小票退货"),
    "label.return_receipt": ("Return against {receipt}", "退货：原单 {receipt}"),
}


def english(key: str, **params: object) -> str:
    """The English text of a screen or checkout key (used for logs and the runtime notice)."""
    return render(key, "en", **params)


def render(key: str, lang: str = "en", **params: object) -> str:
    """A screen text in ``lang`` from either catalogue; a missing key shows itself."""
    pair = TEXTS.get(key) or CHECKOUT_TEXTS.get(key)
    if pair is None:
        return key
    template = pair[1] if lang.startswith("zh") else pair[0]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
