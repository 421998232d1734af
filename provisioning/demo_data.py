"""Deterministic demo data for `make run`: a Chinese supermarket catalogue, members and staff."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

# (category_zh, category_en, [(name_zh, name_en, price_fen), ...]) — packaged goods, sold by count.
# A product has one category, which HQ's reports show as it is: the Chinese name, the store's
# own; the English one only picks the demo's tax rate and rules below.
PACKAGED: tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], ...] = (
    (
        "饮料",
        "Drinks",
        (
            ("农夫山泉 550ml", "Spring water 550ml", 200),
            ("可口可乐 330ml", "Coca-Cola 330ml", 350),
            ("雪碧 500ml", "Sprite 500ml", 380),
            ("王老吉 310ml", "Herbal tea 310ml", 450),
            ("康师傅冰红茶 500ml", "Iced black tea 500ml", 350),
            ("统一绿茶 500ml", "Green tea 500ml", 350),
            ("加多宝 310ml", "Herbal tea can 310ml", 450),
            ("椰树椰汁 245ml", "Coconut juice 245ml", 550),
            ("百事可乐 2L", "Pepsi 2L", 800),
            ("脉动 600ml", "Sports drink 600ml", 500),
            ("红牛 250ml", "Red Bull 250ml", 650),
            ("橙汁 1L", "Orange juice 1L", 1280),
        ),
    ),
    (
        "乳制品",
        "Dairy",
        (
            ("伊利纯牛奶 250ml", "Whole milk 250ml", 350),
            ("蒙牛酸奶 200g", "Yoghurt 200g", 590),
            ("光明鲜牛奶 950ml", "Fresh milk 950ml", 1580),
            ("安慕希 205g", "Greek yoghurt 205g", 690),
            ("旺仔牛奶 245ml", "Flavoured milk 245ml", 550),
            ("奶酪棒 90g", "Cheese sticks 90g", 2590),
            ("黄油 200g", "Butter 200g", 2890),
            ("豆浆 1L", "Soy milk 1L", 990),
        ),
    ),
    (
        "零食",
        "Snacks",
        (
            ("乐事薯片 70g", "Potato crisps 70g", 750),
            ("奥利奥 116g", "Oreo 116g", 890),
            ("旺旺雪饼 84g", "Rice crackers 84g", 690),
            ("三只松鼠坚果 185g", "Mixed nuts 185g", 3990),
            ("德芙巧克力 43g", "Dove chocolate 43g", 790),
            ("卫龙辣条 106g", "Spicy gluten strips 106g", 550),
            ("好丽友派 6枚", "Choco pie x6", 1290),
            ("大白兔奶糖 227g", "White Rabbit candy 227g", 1990),
            ("良品铺子猪肉脯 100g", "Pork jerky 100g", 2590),
            ("洽洽瓜子 260g", "Sunflower seeds 260g", 1290),
            ("QQ糖 70g", "Gummy candy 70g", 450),
            ("饼干礼盒 800g", "Biscuit gift box 800g", 5890),
        ),
    ),
    (
        "粮油",
        "Grain & oil",
        (
            ("五常大米 5kg", "Wuchang rice 5kg", 5990),
            ("金龙鱼花生油 5L", "Peanut oil 5L", 10990),
            ("鲁花花生油 1.8L", "Peanut oil 1.8L", 4990),
            ("面粉 2.5kg", "Wheat flour 2.5kg", 2290),
            ("挂面 1kg", "Dried noodles 1kg", 990),
            ("小米 1kg", "Millet 1kg", 1590),
            ("绿豆 500g", "Mung beans 500g", 890),
            ("燕麦片 1kg", "Rolled oats 1kg", 2590),
        ),
    ),
    (
        "调味品",
        "Condiments",
        (
            ("海天酱油 500ml", "Soy sauce 500ml", 1090),
            ("老陈醋 500ml", "Mature vinegar 500ml", 890),
            ("老干妈 280g", "Chili crisp 280g", 1190),
            ("食盐 400g", "Table salt 400g", 250),
            ("白砂糖 1kg", "White sugar 1kg", 990),
            ("蚝油 510g", "Oyster sauce 510g", 1290),
            ("郫县豆瓣酱 500g", "Broad-bean paste 500g", 1390),
            ("鸡精 200g", "Chicken bouillon 200g", 1090),
        ),
    ),
    (
        "方便食品",
        "Instant food",
        (
            ("康师傅红烧牛肉面", "Braised beef noodles", 450),
            ("统一老坛酸菜面", "Pickled cabbage noodles", 450),
            ("自热火锅", "Self-heating hot pot", 2990),
            ("速冻水饺 1kg", "Frozen dumplings 1kg", 2590),
            ("汤圆 500g", "Glutinous rice balls 500g", 1290),
            ("午餐肉罐头 340g", "Luncheon meat 340g", 1990),
            ("八宝粥 360g", "Eight-treasure porridge", 550),
            ("速冻包子 600g", "Frozen buns 600g", 1890),
        ),
    ),
    (
        "日用品",
        "Household",
        (
            ("维达抽纸 3包", "Facial tissue x3", 1590),
            ("蓝月亮洗衣液 2kg", "Laundry liquid 2kg", 3990),
            ("立白洗洁精 1kg", "Dish soap 1kg", 1290),
            ("高露洁牙膏 140g", "Toothpaste 140g", 1290),
            ("舒肤佳香皂 3块", "Soap bars x3", 1590),
            ("海飞丝洗发水 400ml", "Shampoo 400ml", 4590),
            ("垃圾袋 100只", "Bin bags x100", 990),
            ("电池 AA 4节", "AA batteries x4", 1990),
            ("毛巾", "Towel", 2590),
            ("保鲜膜 30m", "Cling film 30m", 1290),
        ),
    ),
    (
        "酒类",
        "Alcohol",
        (
            ("青岛啤酒 500ml", "Tsingtao beer 500ml", 650),
            ("雪花啤酒 500ml", "Snow beer 500ml", 550),
            ("红星二锅头 500ml", "Erguotou 500ml", 2200),
            ("张裕干红 750ml", "Changyu red wine 750ml", 8900),
            ("黄酒 500ml", "Shaoxing wine 500ml", 1590),
            ("米酒 900g", "Sweet rice wine 900g", 1290),
        ),
    ),
    (
        "冷冻食品",
        "Frozen",
        (
            ("思念水饺 500g", "Pork dumplings 500g", 1590),
            ("三全汤圆 400g", "Sweet rice balls 400g", 1290),
            ("湾仔码头云吞 300g", "Wontons 300g", 1890),
            ("速冻包子 600g", "Steamed buns 600g", 1690),
            ("鸡米花 400g", "Popcorn chicken 400g", 2290),
            ("冰淇淋 5支", "Ice cream x5", 2500),
            ("速冻虾仁 250g", "Frozen shrimp 250g", 3590),
        ),
    ),
    (
        "个人护理",
        "Personal care",
        (
            ("佳洁士牙膏 120g", "Crest toothpaste 120g", 1290),
            ("高露洁牙刷", "Colgate toothbrush", 990),
            ("海飞丝洗发水 400ml", "Head & Shoulders 400ml", 4590),
            ("舒肤佳香皂 115g", "Safeguard soap 115g", 450),
            ("妮维雅面霜 50ml", "Nivea cream 50ml", 3990),
            ("纸巾 10包", "Tissues x10", 1590),
            ("洗手液 500ml", "Hand wash 500ml", 1990),
        ),
    ),
)

# Fresh goods sold by weight (price per kilogram) and labelled by the scale with a
# GS1 variable-measure code (weight-embedded).
WEIGHED: tuple[tuple[str, str, str, str, int], ...] = (
    ("蔬菜", "Vegetables", "西红柿", "Tomatoes", 798),
    ("蔬菜", "Vegetables", "黄瓜", "Cucumber", 598),
    ("蔬菜", "Vegetables", "土豆", "Potatoes", 398),
    ("蔬菜", "Vegetables", "大白菜", "Napa cabbage", 298),
    ("蔬菜", "Vegetables", "胡萝卜", "Carrots", 398),
    ("蔬菜", "Vegetables", "青椒", "Green peppers", 698),
    ("蔬菜", "Vegetables", "西兰花", "Broccoli", 1198),
    ("蔬菜", "Vegetables", "生菜", "Lettuce", 798),
    ("水果", "Fruit", "富士苹果", "Fuji apples", 1298),
    ("水果", "Fruit", "香蕉", "Bananas", 698),
    ("水果", "Fruit", "砂糖橘", "Mandarins", 998),
    ("水果", "Fruit", "葡萄", "Grapes", 1998),
    ("水果", "Fruit", "西瓜", "Watermelon", 398),
    ("水果", "Fruit", "梨", "Pears", 898),
    ("肉类", "Meat", "猪五花肉", "Pork belly", 3598),
    ("肉类", "Meat", "猪里脊", "Pork loin", 3998),
    ("肉类", "Meat", "牛腱子", "Beef shank", 8998),
    ("肉类", "Meat", "鸡胸肉", "Chicken breast", 2398),
    ("肉类", "Meat", "鸡翅中", "Chicken wings", 4598),
    ("水产", "Seafood", "鲈鱼", "Sea bass", 5598),
    ("水产", "Seafood", "基围虾", "Shrimp", 8998),
    ("熟食", "Deli", "卤牛肉", "Braised beef", 11998),
)

# Deli items packed and priced in store: the label carries the price (price-embedded).
PRICE_LABELLED: tuple[tuple[str, str, str, str], ...] = (
    ("熟食", "Deli", "烤鸭", "Roast duck"),
    ("熟食", "Deli", "卤鸡爪", "Braised chicken feet"),
    ("熟食", "Deli", "叉烧", "Char siu pork"),
    ("面包", "Bakery", "切片面包", "Sliced bread"),
    ("面包", "Bakery", "生日蛋糕", "Birthday cake"),
    ("熟食", "Deli", "凉拌菜", "Cold dishes"),
)

SIZES: tuple[tuple[str, str, int], ...] = (("", "", 100), ("家庭装", "family pack", 280))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
)


@dataclass(frozen=True)
class DemoStaff:
    """A demo staff account; the PINs are printed in the README."""

    staff_id: str
    name: str
    role: str
    pin: str


DEMO_STAFF: tuple[DemoStaff, ...] = (
    DemoStaff("1001", "王经理", "manager", "8888"),
    DemoStaff("2001", "李娜", "cashier", "1234"),
    DemoStaff("2002", "张伟", "cashier", "5678"),
)


def ean13_check_digit(body12: str) -> int:
    """GS1 mod-10 check digit for a 12-digit EAN-13 body (weights 1,3,1,3,... from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return (10 - total % 10) % 10


def ean13(body12: str) -> str:
    """Return a full EAN-13 for a 12-digit body."""
    return body12 + str(ean13_check_digit(body12))


def products() -> list[dict[str, object]]:
    """About 200 products as plain dicts (the catalogue snapshot format)."""
    rows: list[dict[str, object]] = []
    serial = 0
    for cat_zh, cat_en, items in PACKAGED:
        for name_zh, name_en, price in items:
            for size_zh, size_en, factor in SIZES:
                serial += 1
                sku = f"P{serial:05d}"
                rows.append(
                    {
                        "sku": sku,
                        "name_zh": f"{name_zh} {size_zh}".strip(),
                        "name_en": f"{name_en} {size_en}".strip(),
                        "category": cat_zh,
                        "category_zh": cat_zh,
                        "price_fen": price * factor // 100 // 10 * 10 or price,
                        "tax_rate_bp": 1300 if cat_en not in ("Grain & oil",) else 900,
                        "sold_by_weight": False,
                        "returnable": cat_en not in ("Alcohol",),
                        "tier_discount": cat_en not in ("Grain & oil",),
                        "barcodes": [ean13(f"69{serial:010d}")],
                    }
                )
    for idx, (cat_zh, _cat_en, name_zh, name_en, per_kg) in enumerate(WEIGHED, start=1):
        item_code = weighed_item_code(idx)
        rows.append(
            {
                "sku": item_code,
                "name_zh": name_zh,
                "name_en": name_en,
                "category": cat_zh,
                "category_zh": cat_zh,
                "price_fen": per_kg,
                "tax_rate_bp": 900,
                "sold_by_weight": True,
                "returnable": True,
                "tier_discount": True,
                "barcodes": [],
            }
        )
    for idx, (cat_zh, _cat_en, name_zh, name_en) in enumerate(PRICE_LABELLED, start=1):
        item_code = priced_item_code(idx)
        rows.append(
            {
                "sku": item_code,
                "name_zh": name_zh,
                "name_en": name_en,
                "category": cat_zh,
                "category_zh": cat_zh,
                "price_fen": 0,
                "tax_rate_bp": 1300,
                "sold_by_weight": False,
                "returnable": True,
                "tier_discount": True,
                "barcodes": [],
            }
        )
    return rows


def weighed_item_code(index: int) -> str:
    """The scale item code of the index-th weighed product (1-based).

    With the default GS1 layout ('2' + 6-digit item code + 5-digit value + check) the first
    item digit is also the second prefix digit, and 25-29 mean "value is grams": so weighed
    items start with 5. The item code is the product's SKU, which is how the till finds it.
    """
    return f"5{index:05d}"


def priced_item_code(index: int) -> str:
    """The scale item code of the index-th price-labelled product: prefix 20 = value in fen."""
    return f"0{900 + index:05d}"


def weight_label(item_code: str, grams: int) -> str:
    """The EAN-13 a shop scale prints for a weighed item (see device.checkout.barcodes)."""
    return ean13(f"2{item_code}{grams:05d}")


def price_label(item_code: str, price_fen: int) -> str:
    """The EAN-13 an in-store label printer prints for a price-labelled item."""
    return ean13(f"2{item_code}{price_fen:05d}")


def demo_scans(seed: int = 1) -> list[str]:
    """Barcodes a demo "scan" picks from: every packaged product plus scale labels."""
    rng = random.Random(seed)
    codes: list[str] = []
    for row in products():
        sku = str(row["sku"])
        if row["sold_by_weight"]:
            codes.append(weight_label(sku, rng.randint(150, 1500)))
        elif row["price_fen"] == 0:
            codes.append(price_label(sku, rng.randint(8, 60) * 100))
        else:
            codes.extend(str(code) for code in row["barcodes"])  # type: ignore[attr-defined]
    return codes


def members(count: int = 1000, seed: int = 7) -> list[dict[str, object]]:
    """Members across the tiers: about 70 % regular, 20 % silver, 10 % gold."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(count):
        roll = rng.random()
        tier = "gold" if roll < 0.10 else "silver" if roll < 0.30 else "regular"
        spend = {
            "gold": rng.randint(500_000, 2_000_000),
            "silver": rng.randint(200_000, 499_999),
            "regular": rng.randint(0, 199_999),
        }[tier]
        birthday = dt.date(1960 + rng.randint(0, 45), rng.randint(1, 12), rng.randint(1, 28))
        rows.append(
            {
                "member_id": f"M{i + 1:07d}",
                "phone": f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}",
                "name": rng.choice(SURNAMES)
                + rng.choice(GIVEN)
                + (rng.choice(GIVEN) if i % 3 else ""),
                "tier": tier,
                "points_balance": spend // 1000 // 2,
                "cumulative_spend_fen": spend,
                "birthday": birthday.isoformat(),
                "opt_out_sms": rng.random() < 0.1,
                "member_code": f"M{i + 1:07d}",
                "cards": [f"{6_200_000_000 + i:010d}"],
            }
        )
    return rows
