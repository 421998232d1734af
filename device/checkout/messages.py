"""Cashier-screen messages by key, in English and Chinese (the screen is bilingual)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# key -> (English, Chinese). Placeholders are str.format fields; both texts use the same ones.
CATALOGUE: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        # staff and shift
        "login.ok": ("welcome, {name}", "欢迎，{name}"),
        "login.wrong_pin": (
            "wrong PIN, {attempts} attempts left",
            "密码错误，还可尝试{attempts}次",
        ),
        "login.locked": ("account locked until {until}", "账户已锁定，请于{until}后再试"),
        "login.failed": ("login refused: {reason}", "登录失败：{reason}"),
        "login.already": ("log out first", "请先退出登录"),
        "login.set_pin": (
            "first sign-in: choose your PIN (4-8 digits), ENTER, then type it again",
            "首次登录：请设置4-8位数字密码，确认后再输入一次",
        ),
        "logout.ok": ("signed out", "已退出"),
        "logout.busy": ("finish or suspend the sale first", "请先完成或挂起当前交易"),
        "state.logged_out": ("log in first", "请先登录"),
        "state.no_shift": ("open a shift first", "请先开班"),
        "state.shift_open": ("a shift is already open", "班次已开启"),
        "state.busy": ("finish the current sale or return first", "请先完成当前交易或退货"),
        "state.illegal": ("not possible now", "当前不可操作"),
        "shift.opened": ("shift open, float {float}", "已开班，备用金{float}"),
        "shift.closed": (
            "shift closed: expected {expected}, counted {counted}",
            "已交班：应有{expected}，实点{counted}",
        ),
        "shift.suspended": (
            "{count} suspended sales: recall or cancel them first",
            "还有{count}笔挂单，请先取回或取消",
        ),
        "shift.x": ("X report printed", "X报表已打印"),
        "cash.in": ("cash in {amount}", "存入现金{amount}"),
        "cash.out": ("cash out {amount}", "取出现金{amount}"),
        "cash.bad_amount": ("enter an amount above zero", "请输入大于零的金额"),
        "cash.reason": ("give a reason", "请输入原因"),
        # manager overrides
        "manager.pin_required": ("manager PIN required", "需要店长密码"),
        "manager.wrong_pin": (
            "wrong manager PIN, {attempts} attempts left",
            "店长密码错误，还可尝试{attempts}次",
        ),
        "manager.refused": ("manager authorisation refused: {reason}", "店长授权失败：{reason}"),
        "manager.not_manager": ("only a manager can authorise this", "只有店长可以授权"),
        # selling
        "scan.first": ("scan an item first", "请先扫描商品"),
        "scan.added": ("{name} {price}", "{name} {price}"),
        "scan.member_code": (
            "member code scanned: use member identification",
            "这是会员码，请用会员识别",
        ),
        "product.unknown": ("unknown product {code}", "未知商品 {code}"),
        "line.voided": ("line {line_no} voided", "第{line_no}行已作废"),
        "line.quantity": ("quantity set to {quantity}", "数量已改为{quantity}"),
        "line.price": ("price changed to {price}", "价格已改为{price}"),
        "line.discount": ("discount applied", "已打折"),
        "sale.discount": ("sale discount applied", "整单折扣已应用"),
        "sale.total": ("total {total}", "合计{total}"),
        "sale.back": ("back to the sale", "返回商品录入"),
        "sale.cancelled": ("sale cancelled", "交易已取消"),
        "sale.complete": ("sale complete, change {change}", "交易完成，找零{change}"),
        "sale.suspended": ("sale suspended as {suspend_id}", "交易已挂单：{suspend_id}"),
        "sale.recalled": ("sale {suspend_id} recalled", "已取回挂单{suspend_id}"),
        "sale.tendered": (
            "cannot change the sale after payment started",
            "已开始付款，不能修改商品",
        ),
        "suspend.unknown": ("no suspended sale {suspend_id}", "没有挂单{suspend_id}"),
        "suspend.empty": ("nothing to suspend", "没有可挂起的交易"),
        # members
        "member.identified": (
            "member {phone}, {tier}, {points} points",
            "会员{phone}，{tier}，积分{points}",
        ),
        "member.unknown": ("no member found for {value}", "未找到会员：{value}"),
        "member.registered": ("member {phone} registered", "会员{phone}注册成功"),
        "member.exists": ("{phone} is already a member", "{phone}已经是会员"),
        "member.bad_phone": ("a phone number has 11 digits", "手机号应为11位数字"),
        "member.cleared": ("member removed from the sale", "已取消会员"),
        "member.none": ("identify a member first", "请先识别会员"),
        "member.note": ("note saved", "备注已保存"),
        "member.note_empty": ("write a note first", "请输入备注内容"),
        # tenders and points
        "tender.due": ("{due} still due", "还需支付{due}"),
        "tender.cancelled": ("tender removed", "已撤销付款"),
        "tender.none": ("no tender to remove", "没有可撤销的付款"),
        "tender.must_cancel": ("remove the tenders first", "请先撤销已付款项"),
        "points.redeemed": ("{points} points used, {value} off", "已用{points}积分，抵{value}"),
        "points.already": ("points already used in this sale", "本单已使用积分"),
        # coupons: the same rules and words whether HQ or the till's cache says so
        "coupon.no_code": ("a coupon tender needs the coupon code", "请输入券码"),
        "coupon.on_sale": ("coupon {code} is already on this sale", "券{code}已在本单使用"),
        "coupon.unknown": ("unknown coupon {code}", "券{code}不存在"),
        "coupon.revoked": ("coupon {code} was withdrawn by HQ", "券{code}已被总部作废"),
        "coupon.not_yet": ("coupon {code} is valid from {date}", "券{code}自{date}起可用"),
        "coupon.expired": ("coupon {code} expired on {date}", "券{code}已于{date}过期"),
        "coupon.other_store": (
            "coupon {code} cannot be used in this store",
            "券{code}不能在本店使用",
        ),
        "coupon.needs_member": (
            "coupon {code} belongs to a member: identify the member first",
            "券{code}为会员专享，请先识别会员",
        ),
        "coupon.other_member": ("coupon {code} belongs to another member", "券{code}属于其他会员"),
        "coupon.min_spend": ("coupon {code} needs a spend of {amount}", "券{code}需消费满{amount}"),
        "coupon.used_up": ("coupon {code} has already been used", "券{code}已被使用"),
        "coupon.not_tender": (
            "coupon {code} is for a gift item, not a payment",
            "券{code}是赠品券，不能用于付款",
        ),
        "coupon.worthless": (
            "coupon {code} is worth nothing on this sale",
            "券{code}在本单中无抵扣金额",
        ),
        "coupon.accepted": (
            "coupon {code} pays {amount} (confirmed by HQ)",
            "券{code}抵{amount}（总部已确认）",
        ),
        "coupon.offline": (
            "HQ unreachable: coupon {code} taken offline for {amount}; HQ checks it later",
            "无法连接总部：券{code}离线抵{amount}，稍后由总部核对",
        ),
        "coupon.offline_refused": (
            "HQ unreachable: coupons cannot be taken until it answers",
            "无法连接总部：暂不能收券",
        ),
        "coupon.offline_unknown": (
            "HQ unreachable, and coupon {code} is not known on this till",
            "无法连接总部，本机也没有券{code}的信息",
        ),
        "coupon.offline_limit": (
            "HQ unreachable: coupon {code} was already used offline at this till",
            "无法连接总部：券{code}已在本机离线使用过",
        ),
        # asking HQ
        "hq.asking": ("checking with HQ...", "正在向总部核实……"),
        "hq.waiting": ("still checking with HQ: wait for its answer", "正在向总部核实，请稍候"),
        "hq.bad_request": ("HQ refused the request: {detail}", "总部拒绝了请求：{detail}"),
        "hq.refused": ("HQ refused: {detail}", "总部拒绝：{detail}"),
        # returns and manager operations
        "return.receipt_unknown": ("unknown receipt {receipt}", "找不到小票{receipt}"),
        "return.receipt_nowhere": (
            "receipt {receipt} is not known at any till of the chain",
            "全部门店都找不到小票{receipt}",
        ),
        "return.receipt_held": (
            "receipt {receipt} is held for HQ's review: no returns until HQ decides",
            "小票{receipt}正在等待总部审核，审核前不能退货",
        ),
        "return.other_offline": (
            "receipt {receipt} is from another till and HQ cannot be reached: "
            "the return needs HQ online",
            "小票{receipt}不是本机的，且无法连接总部：需联网后才能退货",
        ),
        "return.other_offline_capped": (
            "HQ unreachable: receipt {receipt} can only be returned item by item with a "
            "manager, up to {cap}",
            "无法连接总部：小票{receipt}只能由店长授权逐件退货，最多{cap}",
        ),
        "return.other_receipt_refused": (
            "receipt {receipt} is from another till: open it with the return key while HQ "
            "is reachable",
            "小票{receipt}不是本机的：请在联网时用退货键调出",
        ),
        "return.over": (
            "only {left} of line {line} can still be returned (returns at every till count)",
            "第{line}行只能再退{left}（所有收银台的退货都计算在内）",
        ),
        "return.unknown_line": (
            "no line {line} on receipt {receipt}",
            "小票{receipt}没有第{line}行",
        ),
        "return.use_receipt": (
            "receipt {receipt} is this till's: return it with the return key",
            "小票{receipt}是本机的：请用退货键退货",
        ),
        "return.claim_unanswered": (
            "HQ did not answer: nothing was returned, try again",
            "总部没有回应：未退货，请重试",
        ),
        "return.offline_own": (
            "refund {amount} (HQ unreachable: checked against this till's records)",
            "退款{amount}（无法连接总部：按本机记录核对）",
        ),
        "return.started": (
            "receipt {receipt}: choose the lines to return",
            "小票{receipt}：请选择退货商品",
        ),
        "return.done": ("refund {amount}", "退款{amount}"),
        "return.cancelled": ("return cancelled", "已取消退货"),
        "return.nothing": ("choose at least one line", "请至少选择一项"),
        "void.other_shift": ("only sales of the open shift can be voided", "只能作废本班次的交易"),
        "void.nothing": (
            "nothing left to return on receipt {receipt}",
            "小票{receipt}已无可退商品",
        ),
        "void.done": (
            "sale {receipt} voided, refund {amount}",
            "小票{receipt}已作废，退款{amount}",
        ),
        "no_sale.ok": ("drawer opened (no sale)", "已打开钱箱（无交易）"),
        "reprint.ok": ("reprinting receipt {receipt}", "正在补打小票{receipt}"),
        "drawer.alarm": ("close the cash drawer", "请关好钱箱"),
        "drawer.open": ("close the cash drawer first", "请先关好钱箱"),
        "feedback.thanks": ("thank you for the rating", "感谢您的评价"),
        "feedback.bad": ("a rating is 1 to 5", "评分为1到5"),
        "lookup.found": (
            "{phone}: {tier}, {points} points, spend {spend}",
            "{phone}：{tier}，积分{points}，累计消费{spend}",
        ),
        # errors raised by the domain modules carry their own English reason
        "error.barcode": ("invalid barcode: {reason}", "条码无效：{reason}"),
        "error.cart": ("{reason}", "{reason}"),
        "error.pricing": ("{reason}", "{reason}"),
        "error.loyalty": ("{reason}", "{reason}"),
        "error.tender": ("{reason}", "{reason}"),
        "error.return": ("return refused: {reason}", "不能退货：{reason}"),
        "error.permission": ("{reason}", "权限不足：{reason}"),
        "error.shift": ("{reason}", "{reason}"),
        "error.checkout": ("{reason}", "{reason}"),
        # a fault outside the rules (a port that failed, a bug): the till carries on
        "error.internal": ("could not do that: {reason}", "无法完成：{reason}"),
    }
)

LANGUAGES: Final = ("en", "zh")


# Tier names as the cashier reads them; a ``tier`` parameter is shown in the screen's language.
TIER_NAMES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {"regular": ("regular", "普通会员"), "silver": ("silver", "银卡"), "gold": ("gold", "金卡")}
)


def text(key: str, lang: str = "en", **kw: object) -> str:
    """Render a message in ``lang`` ("en" or "zh"); unknown languages fall back to English."""
    english, chinese = CATALOGUE[key]
    zh = lang.startswith("zh")
    template = chinese if zh else english
    tier = kw.get("tier")
    if isinstance(tier, str) and tier in TIER_NAMES:
        kw = {**kw, "tier": TIER_NAMES[tier][1 if zh else 0]}
    return template.format(**kw)
